# %% [markdown]
# # 02 — Occupancy by hour of day
# Mean station occupancy (bikes / (bikes + docks)) across the network for each local
# hour, from the stream's `indicators_area/` network rows, **observed windows only**: a
# 15-minute window counts when a poll read the network in it (`polls > 0`); a window
# whose values are carried forward from an earlier poll does not, so an hour no poll
# observed has no value — a grey cell, never a value and never a 0. Each window weighs
# its known station-time; under each value, the polls (and, by day of the week, the
# days) behind it. The layout fits the recording: one row per date for a few days
# (dates without data stay as empty rows), one row per weekday only when every day of
# the week (Monday to Sunday) has data. A cell whose polls listed fewer than
# `min_coverage` of the stations is left grey too. A cell resting on fewer than
# `min_polls` polls is hatched, with no value: one poll is one moment of one day,
# not an hour's mean. The colour scale spans the range of the cells drawn.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5
min_polls = 2

# %%
import pandas as pd

from pipeline.research import heatmaps, observation, tables

NAME = "02-occupancy-heatmap"
root = tables.project_root()
processed = root / processed_dir
area = tables.read_table(processed, "indicators_area")
network = area[area["area_level"] == "network"]
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
res = observation.resolution(tables.read_table(processed, "polls"))
cells = heatmaps.hourly_cells(network, stations[("network", "all")])
grid, layout = heatmaps.heatmap_grid(cells, min_coverage)
polls, _ = heatmaps.heatmap_grid(cells, min_coverage, "polls", "sum")
days_in, _ = heatmaps.heatmap_grid(cells, min_coverage, "value", "count")
start, end = tables.data_span(network)
print(f"{len(cells)} observed (date, hour) cells; {res.text()}")


# %%
def note(p: float, d: float) -> str:
    if pd.isna(p):
        return ""
    return f"{p:.0f}p {d:.0f}d" if layout == "weekday" else f"{p:.0f}p"


notes = pd.DataFrame(
    [
        [note(p, d) for p, d in zip(prow, drow, strict=True)]
        for prow, drow in zip(polls.to_numpy(), days_in.to_numpy(), strict=True)
    ],
    index=grid.index,
    columns=grid.columns,
)
thin = polls < min_polls
days = [label for label, row in grid.iterrows() if row.notna().any()]
few = int((thin & grid.notna()).sum().sum())
if layout == "weekday":
    title = "Mean Vélib' station occupancy by day of the week and hour, observed hours only"
else:
    title = f"Mean Vélib' station occupancy by hour, observed hours of {len(days)} days"
fig = heatmaps.heatmap_figure(
    grid,
    title=title,
    label="occupancy (%)",
    caption=observation.caption(
        start,
        end,
        heatmaps.heatmap_caption(grid, layout, min_coverage)
        + f"; hatched: {few} cells resting on fewer than {min_polls} polls (no value drawn)",
        res,
    ),
    notes=notes,
    thin=thin,
)
_ = tables.save_figure(fig, root / figures_dir / NAME / "occupancy_heatmap.png", close=False)

# %% [markdown]
# ## Numbers
# `occupancy_by_hour.csv` (what `dvc plots show` draws): per local hour, the mean over
# the weekdays (Monday to Friday) and over the weekend days (Saturday, Sunday) on which
# a poll observed that hour, how many days and polls that is; an hour never observed
# is an empty cell. The morning of a Saturday is not that of a Tuesday.

# %%
kept = cells[cells["coverage"] >= min_coverage].dropna(subset=["value"])
weekend = kept["date"].map(lambda d: pd.Timestamp(d).dayofweek >= 5).astype(bool)
table = pd.DataFrame({"hour": range(24)})
for kind, rows in (("weekday", kept[~weekend]), ("weekend", kept[weekend])):
    by_hour = rows.groupby("hour").agg(
        mean=("value", "mean"), days=("value", "size"), polls=("polls", "sum")
    )
    by_hour = by_hour.reindex(range(24))
    table[f"{kind}_occupancy"] = by_hour["mean"].to_numpy()
    table[f"{kind}_days"] = by_hour["days"].fillna(0).astype(int).to_numpy()
    table[f"{kind}_polls"] = by_hour["polls"].fillna(0).astype(int).to_numpy()
tables.write_csv(table, root / metrics_dir / "occupancy_by_hour.csv")
values = grid.where(~thin).stack()  # the cells drawn: resting on min_polls polls at least
at = values.idxmax() if len(values) else None
metrics = {
    "layout": layout,
    "days_with_data": len(days),
    "cells_observed": int(grid.notna().sum().sum()),
    "occupancy_min_cell": values.min(),
    "occupancy_max_cell": values.max(),
    "occupancy_max_at": f"{at[0]} {at[1]:02d}h" if at else None,
    "occupancy_max_polls": int(polls.loc[at]) if at else None,
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "occupancy_heatmap.json")
print(tables.metrics_text(metrics))
