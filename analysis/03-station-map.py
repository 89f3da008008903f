# %% [markdown]
# # 03 — Station map
# Every station at its coordinates, coloured by its time-weighted occupancy and by
# the share of its known time it was empty, over the whole period (the stream's
# `indicators_station/` rows, each window weighted by the seconds it knew the
# station). Positions are the station's last reported coordinates (`status/`).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"

# %%
import math

import matplotlib.pyplot as plt

from pipeline import figures, research

NAME = "03-station-map"
root = research.project_root()
processed = root / processed_dir
station_rows = research.read_table(processed, "indicators_station")
per_station = research.station_summary(station_rows)
coords = ["station_code", "lat", "lon", "observed_at"]
places = research.read_table(processed, "status", coords).groupby("station_code")[["lat", "lon"]]
stations = per_station.join(places.last(), how="left")
mapped = stations.dropna(subset=["lat", "lon"])
mapped = mapped[(mapped["lat"].between(48.6, 49.1)) & (mapped["lon"].between(2.0, 2.7))]
start, end = research.data_span(station_rows)

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 6.5), layout="constrained")
aspect = 1 / math.cos(math.radians(48.86))  # metres per degree differ in lat and lon
for ax, column, title in (
    (axes[0], "occupancy_mean", "Mean occupancy (bikes / (bikes + docks))"),
    (axes[1], "empty_share", "Share of the known time with no bike"),
):
    shown = mapped.dropna(subset=[column])
    points = ax.scatter(
        shown["lon"],
        shown["lat"],
        c=shown[column] * 100,
        s=9,
        cmap="viridis",
        vmin=0,
        vmax=100,
        edgecolors="0.35",
        linewidths=0.2,
    )
    ax.set_aspect(aspect)
    ax.set_title(title)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    fig.colorbar(points, ax=ax, shrink=0.8, label="%")
fig.suptitle(f"Vélib' stations ({len(mapped)} mapped)")
figures.add_caption(
    fig, research.caption(start, end, "time-weighted over each station's known time")
)
_ = research.save_figure(fig, root / figures_dir / NAME / "station_map.png", close=False)

# %%
out = mapped.reset_index()[
    [
        "station_code",
        "name",
        "lat",
        "lon",
        "hours_known",
        "occupancy_mean",
        "empty_share",
        "full_share",
    ]
]
research.write_csv(out, root / metrics_dir / "station_map.csv", digits=6)
metrics = {
    "stations_mapped": len(mapped),
    "stations_without_coordinates": len(stations) - len(mapped),
    "occupancy_median": mapped["occupancy_mean"].median(),
    "stations_empty_half_the_time": int((mapped["empty_share"] >= 0.5).sum()),
}
research.write_json(metrics, root / metrics_dir / "station_map.json")
print(research.metrics_text(metrics))
