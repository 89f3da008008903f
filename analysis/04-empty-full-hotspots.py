# %% [markdown]
# # 04 — Empty and full hotspots
# The stations and Paris arrondissements that are empty (no bike) or full (no
# free dock) most often. "Share of time" comes from each station's last known
# state every `grid_freq`, so a station that rarely reports still counts per
# unit of time, not per report.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
grid_freq = "30min"
grid_max_age = "2h"
top_n = 15

# %%
import matplotlib.pyplot as plt
import numpy as np

from pipeline import research

NAME = "04-empty-full-hotspots"
root = research.project_root()
status = research.read_status(root / processed_dir)
grid = research.state_grid(status, grid_freq, grid_max_age)
places = status.groupby("station_code")[["name", "commune", "arrondissement", "capacity"]].last()
per_station = (
    grid.groupby("station_code")
    .agg(empty_share=("empty", "mean"), full_share=("full", "mean"), slots=("empty", "size"))
    .join(places)
    .reset_index()
)
# Capacity-0 stations are both empty and full all the time: data quality, not hotspots.
ranked = per_station[per_station["capacity"].fillna(0) > 0]

# %%
top_empty = ranked.sort_values(["empty_share", "station_code"], ascending=[False, True]).head(top_n)
top_full = ranked.sort_values(["full_share", "station_code"], ascending=[False, True]).head(top_n)
fig, axes = plt.subplots(1, 2, figsize=(14, 6), constrained_layout=True)
for ax, table, column, title, color in (
    (axes[0], top_empty, "empty_share", f"{top_n} stations most often empty", "#c44e52"),
    (axes[1], top_full, "full_share", f"{top_n} stations most often full", "#4c72b0"),
):
    labels = [
        f"{c} {str(n)[:28]}" for c, n in zip(table["station_code"], table["name"], strict=True)
    ]
    ax.barh(labels[::-1], table[column].to_numpy()[::-1] * 100, color=color)
    ax.set_xlabel("share of time (%)")
    ax.set_xlim(0, 100)
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
research.save_figure(fig, root / figures_dir / NAME / "station_hotspots.png", close=False)

# %%
paris = ranked[ranked["arrondissement"].notna()]
by_arr = paris.groupby("arrondissement")[["empty_share", "full_share"]].mean().reindex(range(1, 21))
x = np.arange(1, 21)
fig, ax = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
ax.bar(x - 0.2, by_arr["empty_share"] * 100, width=0.4, label="empty (no bike)", color="#c44e52")
ax.bar(x + 0.2, by_arr["full_share"] * 100, width=0.4, label="full (no dock)", color="#4c72b0")
ax.set_xticks(x)
ax.set_xlabel("Paris arrondissement")
ax.set_ylabel("mean share of time (%)")
ax.set_title("How often Paris stations are empty or full, per arrondissement")
ax.legend()
ax.grid(axis="y", alpha=0.3)
research.save_figure(fig, root / figures_dir / NAME / "arrondissement_hotspots.png", close=False)

# %%
cols = ["station_code", "name", "commune", "arrondissement", "empty_share", "full_share", "slots"]
hot = per_station.sort_values(["empty_share", "station_code"], ascending=[False, True])
research.write_csv(hot[cols], root / metrics_dir / "hotspots_stations.csv")
metrics = {
    "stations_ranked": len(ranked),
    "stations_empty_over_half": int((ranked["empty_share"] > 0.5).sum()),
    "stations_full_over_half": int((ranked["full_share"] > 0.5).sum()),
    "top_empty_station": str(top_empty["station_code"].iloc[0]),
    "top_full_station": str(top_full["station_code"].iloc[0]),
    "arrondissement_most_empty": int(by_arr["empty_share"].idxmax()),
    "arrondissement_most_full": int(by_arr["full_share"].idxmax()),
}
research.write_json(metrics, root / metrics_dir / "hotspots.json")
print(metrics)
