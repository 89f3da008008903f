# %% [markdown]
# # 02 — Occupancy by hour of day
# Mean station occupancy (bikes / (bikes + docks)) across the network for each local
# hour, from the stream's `indicators_area/` network rows: each 15-minute window
# weighs its known station-time. The layout fits the recording: one row per date for
# a few days (dates without data stay as empty rows), one row per weekday only when
# every day of the week (Monday to Sunday) has data. An hour in which fewer than
# `min_coverage` of the stations were known is left blank. The colour scale spans the
# data's range.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5

# %%
import pandas as pd

from pipeline.research import heatmaps, maps, tables

NAME = "02-occupancy-heatmap"
root = tables.project_root()
processed = root / processed_dir
area = tables.read_table(processed, "indicators_area")
network = area[area["area_level"] == "network"]
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
cells = heatmaps.hourly_cells(network, stations[("network", "all")])
grid, layout = heatmaps.heatmap_grid(cells, min_coverage)
start, end = tables.data_span(network)


# %%
days = [label for label, row in grid.iterrows() if row.notna().any()]
if layout == "weekday":
    title = "Mean Vélib' station occupancy by day of the week and hour"
else:
    title = f"Mean Vélib' station occupancy by hour, {len(days)} days with data"
fig = heatmaps.heatmap_figure(
    grid,
    title=title,
    label="occupancy (%)",
    caption=maps.caption(start, end, heatmaps.heatmap_caption(grid, layout, min_coverage)),
)
_ = tables.save_figure(fig, root / figures_dir / NAME / "occupancy_heatmap.png", close=False)

# %% [markdown]
# ## Numbers
# `occupancy_by_hour.csv` (what `dvc plots show` draws): per local hour, the mean over
# the weekdays (Monday to Friday) and over the weekend days (Saturday, Sunday) that have
# it, and how many days that is: the morning of a Saturday is not that of a Tuesday.

# %%
kept = cells[cells["coverage"] >= min_coverage].dropna(subset=["value"])
weekend = kept["date"].map(lambda d: pd.Timestamp(d).dayofweek >= 5).astype(bool)
table = pd.DataFrame({"hour": range(24)})
for kind, rows in (("weekday", kept[~weekend]), ("weekend", kept[weekend])):
    by_hour = rows.groupby("hour")["value"].agg(["mean", "size"]).reindex(range(24))
    table[f"{kind}_occupancy"] = by_hour["mean"].to_numpy()
    table[f"{kind}_days"] = by_hour["size"].fillna(0).astype(int).to_numpy()
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
