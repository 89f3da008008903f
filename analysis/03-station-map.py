# %% [markdown]
# # 03 — Station map
# Every station at its coordinates (WGS84), coloured by its mean occupancy and
# by the share of time it had no bike, from each station's last known state
# every `grid_freq`.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
grid_freq = "30min"
grid_max_age = "2h"

# %%
import math

import matplotlib.pyplot as plt

from pipeline import research

NAME = "03-station-map"
root = research.project_root()
status = research.read_status(root / processed_dir)
grid = research.state_grid(status, grid_freq, grid_max_age)
per_station = grid.groupby("station_code")[["occupancy", "empty", "full"]].mean()
places = status.groupby("station_code")[["name", "lat", "lon", "commune"]].last()
stations = places.join(per_station, how="inner")
mapped = stations.dropna(subset=["lat", "lon"])
mapped = mapped[(mapped["lat"].between(48.6, 49.1)) & (mapped["lon"].between(2.0, 2.7))]

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 6.5), constrained_layout=True)
aspect = 1 / math.cos(math.radians(48.86))  # metres per degree differ in lat and lon
for ax, column, title, cmap in (
    (axes[0], "occupancy", "Mean occupancy (bikes / (bikes + docks), %)", "viridis"),
    (axes[1], "empty", "Share of time with no bike (%)", "magma_r"),
):
    points = ax.scatter(
        mapped["lon"], mapped["lat"], c=mapped[column] * 100, s=6, cmap=cmap, vmin=0, vmax=100
    )
    ax.set_aspect(aspect)
    ax.set_title(title)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    fig.colorbar(points, ax=ax, shrink=0.8, label="%")
fig.suptitle(f"Vélib' stations ({len(mapped)} mapped)")
research.save_figure(fig, root / figures_dir / NAME / "station_map.png", close=False)

# %%
out = mapped.reset_index()[["station_code", "name", "lat", "lon", "occupancy", "empty", "full"]]
research.write_csv(out, root / metrics_dir / "station_map.csv", digits=6)
metrics = {
    "stations": len(stations),
    "stations_mapped": len(mapped),
    "stations_without_coordinates": len(stations) - len(mapped),
    "occupancy_median": mapped["occupancy"].median(),
    "stations_empty_half_the_time": int((mapped["empty"] >= 0.5).sum()),
}
research.write_json(metrics, root / metrics_dir / "station_map.json")
print(metrics)
