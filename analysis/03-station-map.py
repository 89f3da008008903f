# %% [markdown]
# # 03 — Station map
# Every station of Paris coloured by its time-weighted occupancy and by the share of
# its known time it had no bike, over the whole period: the stream's
# `indicators_station/` rows, each window weighted by the seconds it knew the station.
# Then the arrondissements filled with how often their stations were empty or full
# (`indicators_area/`, shares of known station-time).
#
# Maps are in Lambert-93, in km from Notre-Dame (`pipeline/research/maps.py`), with the 20
# arrondissement boundaries (© Ville de Paris, ODbL). Colours are viridis: 0 % is dark
# purple, never white on the white page. Station positions are their last reported
# coordinates (`status/`).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"

# %%
import matplotlib.pyplot as plt
import numpy as np

from pipeline.research import figures, maps, tables

NAME = "03-station-map"
root = tables.project_root()
processed = root / processed_dir
fig_dir = root / figures_dir / NAME
station_rows = tables.read_table(processed, "indicators_station")
area = tables.read_table(processed, "indicators_area")
per_station = tables.station_summary(station_rows)
coords = ["station_code", "lat", "lon", "observed_at"]
places = tables.read_table(processed, "status", coords).groupby("station_code")[["lat", "lon"]]
stations = per_station.join(places.last(), how="left")
start, end = tables.data_span(station_rows)
x, y = maps.map_xy(stations["lat"].to_numpy(), stations["lon"].to_numpy())
stations["x_km"], stations["y_km"] = x, y
print(f"{len(stations)} stations, {int(stations['lat'].isna().sum())} without coordinates")

# %% [markdown]
# ## Stations
# The frame is Paris; suburban stations beyond it are in the CSV. The share of time
# empty uses a scale up to its 95th percentile, so the common values are told apart
# (the few stations above it share the top colour).

# %%
empty_top = figures.fitted_limits(np.nanpercentile(stations["empty_share"] * 100, 95), 10)[1]
fig, axes = plt.subplots(1, 2, figsize=(15, 5.6), layout="constrained")
for ax, column, title, vmax, label in (
    (axes[0], "occupancy_mean", "Mean occupancy (bikes / (bikes + docks))", 100, "occupancy (%)"),
    (
        axes[1],
        "empty_share",
        "Share of the known time with no bike",
        empty_top,
        f"time empty (%, {empty_top:.0f} and above: top colour)",
    ),
):
    maps.base_map(ax)
    maps.plot_stations(
        ax,
        stations["lat"],
        stations["lon"],
        stations[column] * 100,
        vmin=0,
        vmax=vmax,
        label=label,
        size=10,
    )
    ax.set_title(title)
inside = stations["x_km"].between(*axes[0].get_xlim()) & stations["y_km"].between(
    *axes[0].get_ylim()
)
fig.suptitle(
    f"Vélib' stations in and around Paris ({int(inside.sum())} of {len(stations)} in the frame)"
)
maps.add_caption(fig, maps.caption(start, end, "Time-weighted over each station's known time"))
_ = tables.save_figure(fig, fig_dir / "station_map.png", close=False)

# %% [markdown]
# ## Arrondissements
# Shares of each arrondissement's known station-time spent empty and full, each on a
# scale fitted to its range.

# %%
by_arr = tables.area_summary(area, "arrondissement")
by_arr.index = by_arr.index.astype(int)
fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), layout="constrained")
for ax, column, title in (
    (axes[0], "empty_share", "Share of station-time empty (no bike)"),
    (axes[1], "full_share", "Share of station-time full (no dock)"),
):
    maps.base_map(ax)
    values = (by_arr[column] * 100).dropna()
    low, high = figures.fitted_limits(values, 1.0)
    maps.choropleth(ax, values.to_dict(), vmin=low, vmax=high, label="% of station-time")
    ax.set_title(title)
fig.suptitle("How often Paris stations are empty or full, per arrondissement")
maps.add_caption(
    fig, maps.caption(start, end, "Shares of each arrondissement's known station-time")
)
_ = tables.save_figure(fig, fig_dir / "arrondissement_choropleth.png", close=False)

# %%
out = stations.reset_index()[
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
tables.write_csv(out, root / metrics_dir / "station_map.csv", digits=6)
metrics = {
    "stations_in_paris_frame": int(inside.sum()),
    "stations_without_coordinates": int(stations["lat"].isna().sum()),
    "occupancy_median": stations["occupancy_mean"].median(),
    "stations_empty_half_the_time": int((stations["empty_share"] >= 0.5).sum()),
    "arrondissement_most_empty": (
        int(by_arr["empty_share"].idxmax()) if by_arr["empty_share"].notna().any() else None
    ),
}
tables.write_json(metrics, root / metrics_dir / "station_map.json")
print(tables.metrics_text(metrics))
