# %% [markdown]
# # 05 — Data quality
# What the real feed gets wrong, measured on the records themselves (`status/`, one
# row per station record the stream kept) and on what the stream refused
# (`_rejected/`, with the reason): stale reports (the station's last report far older
# than the snapshot), capacity 0, bikes + docks that do not add up to the capacity,
# bike types that do not add up to the total, and rejected Kafka values. How long
# stations went unknown (`stale` alerts) comes from `alerts/`.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
stale_after_hours = 24

# %%
import matplotlib.pyplot as plt

from pipeline import vocabulary
from pipeline.research import figures, maps, tables

NAME = "05-data-quality"
root = tables.project_root()
processed = root / processed_dir
status = tables.read_status(processed)
rejected = tables.read_table(processed, "_rejected")
alerts = tables.read_table(processed, "alerts", ["station_code", "alert", "at"])
age_h = (status["observed_at"] - status["last_reported"]).dt.total_seconds() / 3600
capacity = status["capacity"].astype("float64")
gap = status["bikes_available"] + status["docks_available"] - status["capacity"]
types = status["mechanical_available"] + status["ebike_available"] - status["bikes_available"]
stale = status[age_h > stale_after_hours]
reasons = rejected["reason"].astype(str).str.split(":").str[0].value_counts().sort_index()
went_unknown = alerts[alerts["alert"] == vocabulary.STALE]
print(f"{len(status)} records, {len(rejected)} rejected, {len(went_unknown)} stale alerts")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
clipped = gap.dropna().astype(int).clip(-15, 15)
axes[0].hist(clipped, bins=range(-15, 17), color="#4c72b0", align="left")
axes[0].set_title("bikes + docks − capacity (clipped at ±15)")
axes[0].set_xlabel("docks")
axes[0].set_ylabel("records")
ages = age_h.clip(lower=0, upper=72)
axes[1].hist(ages, bins=range(0, 73, 2), color="#dd8452")
axes[1].axvline(stale_after_hours, color="black", linestyle="--", label="stale threshold")
axes[1].set_yscale("log")
axes[1].set_title("Age of the station's last report (clipped at 72 h)")
axes[1].set_xlabel("hours between last report and snapshot")
axes[1].set_ylabel("records")
axes[1].legend()
if len(reasons):
    labels = [figures.wrap_label(r, 28) for r in reasons.index]
    axes[2].barh(labels, reasons.to_numpy(), color="#c44e52")
    axes[2].set_xlabel("records")
    axes[2].set_title("Records rejected by the stream stage")
else:
    figures.none_panel(axes[2], "none rejected")
    axes[2].set_title("Records rejected by the stream stage")
fig.suptitle("Vélib' data quality")
start, end = status["observed_at"].min(), status["observed_at"].max()
figures.add_caption(fig, maps.caption(start, end, "Every record the stream kept"))
_ = tables.save_figure(fig, root / figures_dir / NAME / "data_quality.png", close=False)

# %%
print("Rejected, by reason:" if len(reasons) else "Nothing was rejected.")
for reason, count in reasons.items():
    print(f"  {reason}: {count}")
print(f"Records whose bike types do not add up to the total: {int((types.dropna() != 0).sum())}")
n = len(status)
metrics = {
    "records": n,
    "stale_report_share": len(stale) / n if n else None,
    "capacity_zero_stations": int(status.loc[capacity == 0, "station_code"].nunique()),
    "bikes_docks_ne_capacity_share": float((gap.dropna() != 0).mean()) if n else None,
    "rejected_records": len(rejected),
    "stale_alerts": len(went_unknown),
}
tables.write_json(metrics, root / metrics_dir / "data_quality.json")
print(tables.metrics_text(metrics))
