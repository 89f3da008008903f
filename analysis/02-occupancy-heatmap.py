# %% [markdown]
# # 02 — Occupancy by hour of day and weekday
# Mean station occupancy (bikes / (bikes + docks)) for each local hour of each
# weekday, from each station's last known state every `grid_freq`. Days absent
# from the data stay blank.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
grid_freq = "30min"
grid_max_age = "2h"

# %%
import matplotlib.pyplot as plt
import numpy as np

from pipeline import research

NAME = "02-occupancy-heatmap"
root = research.project_root()
status = research.read_status(root / processed_dir)
grid = research.state_grid(status, grid_freq, grid_max_age)
local = grid["slot"].dt.tz_convert(research.PARIS_TZ)
grid["weekday"] = local.dt.dayofweek
grid["hour"] = local.dt.hour
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

# %%
cells = grid.groupby(["weekday", "hour"])["occupancy"].mean()
heat = cells.unstack("hour").reindex(index=range(7), columns=range(24))
fig, ax = plt.subplots(figsize=(11, 4), constrained_layout=True)
image = ax.imshow(
    np.ma.masked_invalid(heat.to_numpy() * 100), aspect="auto", cmap="viridis", vmin=0, vmax=100
)
ax.set_yticks(range(7), DAYS)
ax.set_xticks(range(24))
ax.set_xlabel("hour of day, local time (Europe/Paris)")
ax.set_title("Mean Vélib' station occupancy by weekday and hour (blank: no data)")
fig.colorbar(image, ax=ax, label="occupancy (%)")
research.save_figure(fig, root / figures_dir / NAME / "occupancy_heatmap.png", close=False)

# %%
table = cells.reset_index()
table.insert(1, "day", table["weekday"].map(dict(enumerate(DAYS))))
research.write_csv(table, root / metrics_dir / "occupancy_by_hour.csv")
weekend = grid["weekday"] >= 5
metrics = {
    "cells": int(cells.notna().sum()),
    "weekdays_present": sorted(DAYS[d] for d in grid["weekday"].unique()),
    "occupancy_weekday": grid.loc[~weekend, "occupancy"].mean(),
    "occupancy_weekend": grid.loc[weekend, "occupancy"].mean(),
    "occupancy_max_cell": cells.max(),
    "occupancy_max_at": f"{DAYS[cells.idxmax()[0]]} {cells.idxmax()[1]:02d}h",
    "occupancy_min_cell": cells.min(),
    "occupancy_min_at": f"{DAYS[cells.idxmin()[0]]} {cells.idxmin()[1]:02d}h",
}
research.write_json(metrics, root / metrics_dir / "occupancy_heatmap.json")
print(metrics)
