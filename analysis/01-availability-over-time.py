# %% [markdown]
# # 01 — Availability over time
# How many bikes a station offers across the network, mechanical vs e-bike, and how
# full stations are per commune, window by window. Everything comes from the stream's
# `indicators_area/` table: time-weighted means *per known station* over each
# 15-minute window (a station's record is in force until its next one, or for
# `stale_after` at most; `pipeline/vocabulary.py` defines every column).
#
# Per-station means, not totals: when part of the network stops reporting, a total
# drops although no bike moved. The lower panel of each figure shows how many of the
# stations the series covers; windows below `min_coverage` of them are not drawn
# (shaded "no data"). Times are shown in Europe/Paris local time.
#
# **What was observed.** Between two polls a window shows the state in force, carried
# forward from the last poll (the change log cannot tell *unchanged* from
# *unobserved*); the ticks under the coverage panel are the polls (`polls/`), and the
# caption gives the median gap between them. The period averages of the metrics are
# over **observed windows** only (a poll read the network in them), with the share of
# drawn windows that were observed.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5
areas_shown = 6

# %%
import pandas as pd

from pipeline import clock
from pipeline.research import figures, observation, tables
from pipeline.research.figures import Coverage, Line

NAME = "01-availability-over-time"
root = tables.project_root()
fig_dir = root / figures_dir / NAME
met_dir = root / metrics_dir
processed = root / processed_dir
area = tables.read_table(processed, "indicators_area")
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
index = figures.window_index(area)
start, end = tables.data_span(area)
polls = tables.read_table(processed, "polls")
res = observation.resolution(polls)
poll_times = observation.poll_times(polls)
caption = observation.caption(
    start,
    end,
    "15-minute windows, time-weighted; between polls (ticks) the state in force is carried forward",
    res,
)
VALUES = ["bikes_mean", "mechanical_mean", "ebike_mean", "docks_mean", "occupancy_mean"]
NETWORK = ("network", "all")
network = figures.coverage_series(
    area[area["area_level"] == "network"], index, stations[NETWORK], min_coverage, VALUES
)
print(
    f"{len(index)} windows, {int(network['shown'].sum())} drawn "
    f"(at least {min_coverage:.0%} of {stations[NETWORK]} stations known); {res.text()}"
)

# %% [markdown]
# ## Bikes per station across the network, mechanical vs e-bike

# %%
fig = figures.coverage_figure(
    [
        Line("all bikes", network["bikes_mean"], figures.COLORS["bikes"]),
        Line("mechanical", network["mechanical_mean"], figures.COLORS["mechanical"]),
        Line("e-bike", network["ebike_mean"], figures.COLORS["ebike"]),
    ],
    Coverage(
        [Line("network", network["coverage"], figures.COLORS["stations_known"])],
        min_coverage,
        stations=stations[NETWORK],
        polls=poll_times,
    ),
    title="Vélib' bikes available per station known, across the network",
    ylabel="bikes per station",
    caption=caption,
)
_ = tables.save_figure(fig, fig_dir / "network_bikes.png", close=False)

# %% [markdown]
# ## Mean occupancy per commune
# Paris (all arrondissements) against the communes with the most stations, one panel
# each on the same scale, Paris in grey behind the others. Occupancy is bikes / (bikes
# + docks), over each commune's known station-time; under each panel, the share of
# its stations known and the polls.

# %%
communes = area[area["area_level"] == "commune"]
by_size = sorted(
    (n, name) for (level, name), n in stations.items() if level == "commune" and name != "Paris"
)
shown_areas = ["Paris"] + [name for _, name in reversed(by_size)][: areas_shown - 1]
per_area = {
    name: figures.coverage_series(
        communes[communes["area"] == name],
        index,
        stations[("commune", name)],
        min_coverage,
        ["occupancy_mean"],
    )
    for name in shown_areas
    if ("commune", name) in stations
}
paris = per_area.get("Paris")
fig = figures.coverage_grid(
    [
        figures.Panel(
            f"{name} ({stations[('commune', name)]} stations)", s["occupancy_mean"], s["coverage"]
        )
        for name, s in per_area.items()
    ],
    title="Mean station occupancy (bikes / (bikes + docks)) per commune",
    ylabel="occupancy (%)",
    caption=(
        "One panel per commune, same scale"
        + ("; grey line: Paris, for reference" if paris is not None else "")
        + f"; under each, its stations known (below {min_coverage:.0%}: not drawn, shaded grey) "
        "and the polls (ticks). " + caption
    ),
    min_coverage=min_coverage,
    reference=Line("Paris", paris["occupancy_mean"], "0.72") if paris is not None else None,
    polls=poll_times,
    percent=True,
)
_ = tables.save_figure(fig, fig_dir / "occupancy_per_area.png", close=False)

# %% [markdown]
# ## Numbers
# `availability_network.csv` is what `dvc plots show` draws: `local_time` is each
# window's start on the Paris wall clock (the x axis reads in real dates),
# `window_start` the same instant in UTC, `polls` the polls observed in the window (0:
# its values are carried forward); windows below the coverage threshold have empty
# values (gaps in the chart). `availability.json` averages the drawn windows that a
# poll observed, each weighing its known stations.

# %%
local = clock.local_naive(index)
polls_in = area[area["area_level"] == "network"].set_index("window_start")["polls"].reindex(index)
series = pd.DataFrame(
    {
        "window_start": pd.Series(index).dt.strftime("%Y-%m-%dT%H:%MZ").to_numpy(),
        "local_time": local.dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "bikes_per_station": network["bikes_mean"].to_numpy(),
        "mechanical_per_station": network["mechanical_mean"].to_numpy(),
        "ebike_per_station": network["ebike_mean"].to_numpy(),
        "occupancy": network["occupancy_mean"].to_numpy(),
        "stations_known": network["stations_known_mean"].to_numpy(),
        "polls": polls_in.fillna(0).astype(int).to_numpy(),
    }
)
tables.write_csv(series, met_dir / "availability_network.csv")
observed = network["shown"] & (polls_in.fillna(0) > 0)
drawn = network[observed]
weight = drawn["stations_known_mean"]
metrics = {
    "bikes_per_station": (drawn["bikes_mean"] * weight).sum() / weight.sum(),
    "ebike_share": (drawn["ebike_mean"] * weight).sum() / (drawn["bikes_mean"] * weight).sum(),
    "occupancy": (drawn["occupancy_mean"] * weight).sum() / weight.sum(),
    "stations": stations[NETWORK],
    "windows_drawn_share": int(network["shown"].sum()) / len(network),
    "windows_drawn_observed_share": int(observed.sum()) / max(int(network["shown"].sum()), 1),
    **res.metrics(),
}
tables.write_json(metrics, met_dir / "availability.json")
print(tables.metrics_text(metrics))
