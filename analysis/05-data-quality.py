# %% [markdown]
# # 05 — Data quality
# What the real feed gets wrong, measured: stale stations (their last report far
# older than the snapshot), capacity 0, bikes + docks that do not add up to the
# capacity, bike types that do not add up to the total, and the records the
# stream stage rejected (`_rejected/`, with their reason).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
stale_after_hours = 24

# %%
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.dataset as ds

from pipeline import research

NAME = "05-data-quality"
root = research.project_root()
status = research.read_status(root / processed_dir)
age_h = (status["observed_at"] - status["last_reported"]).dt.total_seconds() / 3600
capacity = status["capacity"].astype("float64")
gap = status["bikes_available"] + status["docks_available"] - status["capacity"]
types = status["mechanical_available"] + status["ebike_available"] - status["bikes_available"]
stale = status[age_h > stale_after_hours]

rejected_dir = root / processed_dir / "_rejected"
if rejected_dir.is_dir() and any(rejected_dir.rglob("*.parquet")):
    rejected = ds.dataset(rejected_dir, format="parquet", partitioning="hive").to_table()
    rejected = rejected.to_pandas()
else:
    rejected = pd.DataFrame(columns=["reason"])
reasons = rejected["reason"].astype(str).str.split(":").str[0].value_counts().sort_index()

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), constrained_layout=True)
clipped = gap.dropna().astype(int).clip(-15, 15)
axes[0].hist(clipped, bins=range(-15, 17), color="#4c72b0", align="left")
axes[0].set_title("bikes + docks - capacity (clipped at ±15)")
axes[0].set_xlabel("docks")
axes[0].set_ylabel("records")
ages = age_h.clip(lower=0, upper=72)
axes[1].hist(ages, bins=range(0, 73, 2), color="#dd8452")
axes[1].axvline(stale_after_hours, color="black", linestyle="--", label="stale threshold")
axes[1].set_yscale("log")
axes[1].set_title("Age of the station's last report (clipped at 72 h)")
axes[1].set_xlabel("hours between last report and snapshot")
axes[1].legend()
if len(reasons):
    axes[2].barh(reasons.index, reasons.to_numpy(), color="#c44e52")
else:
    axes[2].text(0.5, 0.5, "no rejected records", ha="center", va="center")
axes[2].set_title("Records rejected by the stream stage")
axes[2].set_xlabel("records")
fig.suptitle("Vélib' data quality")
research.save_figure(fig, root / figures_dir / NAME / "data_quality.png", close=False)

# %%
n = len(status)
metrics = {
    "records": n,
    "stations": int(status["station_code"].nunique()),
    "stale_records": len(stale),
    "stale_stations": int(stale["station_code"].nunique()),
    "stale_after_hours": stale_after_hours,
    "capacity_zero_records": int((capacity == 0).sum()),
    "capacity_zero_stations": int(status.loc[capacity == 0, "station_code"].nunique()),
    "capacity_missing_records": int(capacity.isna().sum()),
    "bikes_docks_ne_capacity_share": float((gap.dropna() != 0).mean()) if n else None,
    "bike_types_ne_total_records": int((types.dropna() != 0).sum()),
    "unmapped_station_ids": int(status["station_code"].str.startswith("id:").sum()),
    "rejected_records": len(rejected),
    "rejected_by_reason": {str(k): int(v) for k, v in reasons.items()},
}
research.write_json(metrics, root / metrics_dir / "data_quality.json")
print(metrics)
