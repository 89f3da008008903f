# %% [markdown]
# # 01 — Availability over time
# How many bikes are available across the network, mechanical vs e-bike, and how
# full stations are per area, over the recorded period. Reads the `status/` table
# of the stream stage and rebuilds each station's last known state every
# `grid_freq` (the stream keeps only changes and heartbeats). Times in UTC inside,
# shown in Europe/Paris local time.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
grid_freq = "30min"
grid_max_age = "2h"
min_coverage = 0.5
areas_shown = 6

# %%
import matplotlib.pyplot as plt
import pandas as pd

from pipeline import research

NAME = "01-availability-over-time"
root = research.project_root()
fig_dir = root / figures_dir / NAME
met_dir = root / metrics_dir
status = research.read_status(root / processed_dir)
grid = research.state_grid(status, grid_freq, grid_max_age)
places = status.groupby("station_code")[["commune", "arrondissement"]].last()
grid = grid.merge(places, on="station_code", how="left")
print(f"{len(status)} records, {status.station_code.nunique()} stations, {len(grid)} grid cells")

# %% [markdown]
# ## Network totals, mechanical vs e-bike
# A time slot is kept when at least `min_coverage` of the stations have a known state.

# %%
net = grid.groupby("slot").agg(
    stations=("station_code", "size"),
    bikes=("bikes_available", "sum"),
    mechanical=("mechanical_available", "sum"),
    ebike=("ebike_available", "sum"),
    docks=("docks_available", "sum"),
    occupancy=("occupancy", "mean"),
)
net = net[net["stations"] >= min_coverage * net["stations"].max()]
full_range = pd.date_range(net.index.min(), net.index.max(), freq=grid_freq)
net_plot = net.reindex(full_range)  # gaps stay gaps in the figure
local = research.local_naive(pd.Series(net_plot.index))

fig, ax = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
for column, label, color in (
    ("bikes", "all bikes", "#333333"),
    ("mechanical", "mechanical", "#4c72b0"),
    ("ebike", "e-bike", "#55a868"),
):
    ax.plot(local, net_plot[column], label=label, color=color)  # NaN = no data: a gap
ax.set_ylim(bottom=0)
ax.set_title("Vélib' bikes available across the network")
ax.set_xlabel("local time (Europe/Paris)")
ax.set_ylabel("bikes available")
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
research.save_figure(fig, fig_dir / "network_bikes.png", close=False)

# %% [markdown]
# ## Mean occupancy per area
# Paris (all arrondissements) against the communes with the most stations.

# %%
grid["area"] = grid["commune"].fillna("unknown")
top = (
    grid[grid["area"] != "Paris"]
    .groupby("area")["station_code"]
    .nunique()
    .sort_values(ascending=False, kind="stable")
    .head(areas_shown - 1)
    .index.tolist()
)
per_area = (
    grid[grid["area"].isin(["Paris", *top])]
    .groupby(["slot", "area"])["occupancy"]
    .mean()
    .unstack("area")
    .reindex(full_range)
)
fig, ax = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
for area in ["Paris", *top]:
    if area in per_area:
        ax.plot(research.local_naive(pd.Series(per_area.index)), per_area[area] * 100, label=area)
ax.set_title("Mean station occupancy (bikes / (bikes + docks)) per commune")
ax.set_xlabel("local time (Europe/Paris)")
ax.set_ylabel("occupancy (%)")
ax.set_ylim(0, 100)
ax.legend(loc="upper left", fontsize=8, ncol=2)
ax.grid(alpha=0.3)
research.save_figure(fig, fig_dir / "occupancy_per_area.png", close=False)

# %% [markdown]
# ## Numbers
# `availability_network.csv` is the time series DVC plots (`dvc plots show`).

# %%
series = net.reset_index(names="slot")
series.insert(0, "time", series.pop("slot").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
series["ebike_share"] = series["ebike"] / series["bikes"]
research.write_csv(series, met_dir / "availability_network.csv")
peak, low = net["bikes"].idxmax(), net["bikes"].idxmin()
metrics = {
    "records": len(status),
    "stations": int(status["station_code"].nunique()),
    "slots": len(net),
    "bikes_mean": net["bikes"].mean(),
    "bikes_max": int(net["bikes"].max()),
    "bikes_min": int(net["bikes"].min()),
    "bikes_max_at": peak.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "bikes_min_at": low.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "ebike_share_mean": (net["ebike"] / net["bikes"]).mean(),
    "occupancy_mean": net["occupancy"].mean(),
}
research.write_json(metrics, met_dir / "availability.json")
print(metrics)
