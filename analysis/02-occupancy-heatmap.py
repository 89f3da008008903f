# %% [markdown]
# # 02 — Occupancy by hour of day
# Mean station occupancy (bikes / (bikes + docks)) across the network for each local
# hour, from the stream's `indicators_area/` network rows: each 15-minute window
# weighs its known station-time. The layout fits the recording: one row per date for
# a few days (dates without data stay as empty rows), one row per weekday only when
# every weekday has data. An hour in which fewer than `min_coverage` of the stations
# were known is left blank. The colour scale spans the data's range.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5

# %%
import pandas as pd

from pipeline.research import figures, maps, tables

NAME = "02-occupancy-heatmap"
root = tables.project_root()
processed = root / processed_dir
area = tables.read_table(processed, "indicators_area")
network = area[area["area_level"] == "network"]
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
cells = figures.hourly_cells(network, stations[("network", "all")])
grid, layout = figures.heatmap_grid(cells, min_coverage)
start, end = tables.data_span(network)


# %%
def hours_with_data(row: pd.Series) -> str:
    hours = row.dropna().index
    first, last = int(hours[0]), int(hours[-1])
    return f"{first:02d}h" if first == last else f"{first:02d}–{last:02d}h"


days = [f"{label} {hours_with_data(row)}" for label, row in grid.iterrows() if row.notna().any()]
if layout == "weekday":
    title = "Mean Vélib' station occupancy by weekday and hour"
else:
    title = f"Mean Vélib' station occupancy by hour, {len(days)} days with data"
fig = figures.heatmap_figure(
    grid,
    title=title,
    label="occupancy (%)",
    caption=maps.caption(
        start,
        end,
        ("Hours with data: " + ", ".join(days) if layout == "date" else f"{len(days)} weekdays")
        + f"; grey: no data or under {min_coverage:.0%} of stations known; period",
    ),
)
_ = tables.save_figure(fig, root / figures_dir / NAME / "occupancy_heatmap.png", close=False)

# %% [markdown]
# ## Numbers
# `occupancy_by_hour.csv` (what `dvc plots show` draws): per local hour, the mean
# over the days that have it, and how many days that is.

# %%
kept = cells[cells["coverage"] >= min_coverage].dropna(subset=["value"])
by_hour = kept.groupby("hour")["value"].agg(["mean", "size"]).reindex(range(24))
table = pd.DataFrame(
    {"hour": range(24), "occupancy": by_hour["mean"].to_numpy(), "days": by_hour["size"].to_numpy()}
)
tables.write_csv(table, root / metrics_dir / "occupancy_by_hour.csv")
values = grid.stack()
metrics = {
    "layout": layout,
    "days_with_data": len(days),
    "occupancy_min_cell": values.min(),
    "occupancy_max_cell": values.max(),
    "occupancy_max_at": f"{values.idxmax()[0]} {values.idxmax()[1]:02d}h",
}
tables.write_json(metrics, root / metrics_dir / "occupancy_heatmap.json")
print(tables.metrics_text(metrics))
