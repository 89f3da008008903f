# %% [markdown]
# # 06 — Empty and full episodes
# How long does a station stay empty (no bike to take) or full (no dock to return
# to), and when do such episodes begin? An *episode* runs from the alert that puts a
# station in the condition to the station's next alert (`alerts/` of the stream;
# `pipeline/research/episodes.py`).
#
# **What was observed.** A station is seen only when a poll lists it (the poll log,
# `polls/`), so each end of an episode is an interval, not an instant: it began after
# the station's last poll before it (`seen_before_at` of the opening alert) and by the
# first poll that saw it (`at`); it ended after the last poll that still saw it in the
# condition and by the first that saw it out of it. Lengths are therefore **bounds**:
# at least *last seen in it − first seen in it* (0 for an episode seen by one poll),
# at most *first seen out of it − last seen before it*. Two changes between two polls
# show as one, and an episode shorter than the gap between polls can be missed
# entirely: the recording's resolution (median gap between polls) is in every caption.
#
# **Censoring.** An episode whose next alert is `stale` (the station stopped
# reporting) or that is still running when the data ends is *right-censored*; one that
# opens with `back` (reporting again after being unknown) or with the station's first
# record is *left-censored*: either way only its lower bound is known. Lengths, medians
# and the by-hour figures use **complete** episodes only; censored ones are counted
# apart. Long episodes are the likeliest to be cut, so the complete ones
# under-represent them.
#
# **Rates per observed station-hour.** A start is known to lie between two polls; it
# is spread over the Paris hours of that interval (weights summing to one). It is
# divided by the station-hours *under observation* in the same hour of the day: the
# time between two consecutive polls that both listed the station (without going
# stale in between, and no longer apart than the stream's `stale_after`: an unpolled
# night is not observation), when a start would be recorded, spread over the hours the same
# way. A sparsely polled hour is then not a quiet hour; per day, it was.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5
min_station_hours = 500
min_episodes = 10

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import clock, vocabulary
from pipeline.research import episodes, figures, heatmaps, observation, stats, tables
from pipeline.settings import project

NAME = "06-empty-full-episodes"
root = tables.project_root()
processed = root / processed_dir
fig_dir = root / figures_dir / NAME
alerts = tables.read_table(processed, "alerts")
area = tables.read_table(processed, "indicators_area")
network = area[area["area_level"] == "network"]
polls = tables.read_table(processed, "polls")
res = observation.resolution(polls)
seen = observation.sightings(polls)
start, end = tables.data_span(network)
found = episodes.episodes(alerts, end, last_seen=observation.last_seen(seen))
done = found[found["complete"]]
summary = episodes.summary(found)
COLORS = figures.COLORS  # one colour per concept, as in the Vega charts
print(f"{len(found)} episodes, {len(done)} complete; {res.text()}")
print(summary.round(3).to_string())

# %% [markdown]
# ## How long episodes last
# For complete episodes, the share still running after a given time lies in the band:
# between the share whose *lower* bound exceeds it and the share whose *upper* bound
# does (every length lies between its bounds). The median lies where the band crosses
# 50 %. The dotted line is the median gap between polls: shorter lengths than that are
# mostly the sampling, not the stations.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, layout="constrained")
upper = done["upper_minutes"].dropna()
reach = float(np.ceil(upper.quantile(0.99) / 60) * 60) if len(upper) else 120.0
grid = np.linspace(0, reach, 400)


def still_running(bounds: pd.Series) -> np.ndarray:
    values = np.sort(bounds.dropna().to_numpy(dtype="float64"))
    return 1 - np.searchsorted(values, grid, side="right") / max(len(values), 1)


for ax, condition in zip(axes, episodes.CONDITIONS, strict=True):
    mine = done[done["condition"] == condition]
    row = summary.loc[condition]
    ax.fill_between(
        grid,
        still_running(mine["lower_minutes"]) * 100,
        still_running(mine["upper_minutes"]) * 100,
        color=COLORS[condition],
        alpha=0.45,
        step="post",
        label=f"complete episodes ({len(mine)}): between the bounds",
    )
    ax.axhline(50, color="0.3", linewidth=0.8)
    ax.axvline(
        res.gap_median_minutes,
        color="black",
        linestyle=":",
        linewidth=1.2,
        label=f"median gap between polls ({observation.duration(res.gap_median_minutes)})",
    )
    ax.set_xlim(0, reach)
    ax.set_xticks(np.arange(0, reach + 1, 60 if reach <= 480 else 120))
    ax.set_ylim(0, 100)
    ax.set_xlabel("episode length (minutes)")
    ax.set_title(f"{condition.capitalize()} episodes")
    ax.text(
        0.98,
        0.62,
        f"median between {row['lower_median']:.0f} and {row['upper_median']:.0f} min\n"
        f"seen by one poll only (lower bound 0): {row['one_poll_share']:.0%}\n"
        f"censored, not drawn: {int(row['episodes'] - row['complete'])}",
        transform=ax.transAxes,
        ha="right",
        fontsize=8,
    )
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("episodes still running (%)")
what = "Lengths as bounds: last seen in it − first seen in it, first seen out − last seen before"
figures.add_caption(fig, observation.caption(start, end, what, res))
_ = tables.save_figure(fig, fig_dir / "episode_durations.png", close=False)

# %% [markdown]
# ## Per arrondissement
# Complete episodes of Paris stations, drawn as ranges, not lengths: the capped range
# is where the median length lies (from the median of the lower bounds to that of the
# upper bounds; a lower end of 0 is the resolution, episodes seen by one poll), the thin
# line holds the middle half (first quartile of the lower bounds to third of the upper);
# under each arrondissement, its n of complete episodes (empty / full). A median of fewer
# than `min_episodes` episodes is not drawn (hatched).

# %%
paris = done[done["arrondissement"].notna()]
counts = paris.groupby(["arrondissement", "condition"]).size().unstack().reindex(range(1, 21))
counts = counts.reindex(columns=list(episodes.CONDITIONS)).fillna(0).astype(int)
fig, ax = plt.subplots(figsize=(12, 4.8), layout="constrained")
ax.set_title("Length of complete empty and full episodes per arrondissement", pad=24)
if paris.empty:
    figures.none_panel(ax, "no complete episode at a Paris station in this data")
for offset, condition in ((-0.15, "empty"), (0.15, "full")):
    mine = paris[paris["condition"] == condition]
    by = mine.groupby("arrondissement")
    q = pd.DataFrame(
        {
            "q1": by["lower_minutes"].quantile(0.25),
            "m_low": by["lower_minutes"].median(),
            "m_high": by["upper_minutes"].median(),
            "q3": by["upper_minutes"].quantile(0.75),
        }
    ).reindex(range(1, 21))
    x = np.arange(1, 21) + offset
    few = counts[condition].to_numpy() < min_episodes  # too few to place a median: not drawn
    q[few] = np.nan
    figures.hatch_thin_columns(ax, x[few & (counts[condition].to_numpy() > 0)], width=0.3)
    ax.vlines(x, q["q1"], q["q3"], color=COLORS[condition], linewidth=0.8, alpha=0.6)
    figures.ranges(
        ax,
        x,
        q["m_low"],
        q["m_high"],
        color=COLORS[condition],
        linewidth=1.8,
        cap=11,
        label=f"{condition} ({len(mine)}): the median lies between the caps",
    )
if not paris.empty:
    ax.axhline(
        res.gap_median_minutes,
        color="black",
        linestyle=":",
        linewidth=1,
        label="median gap between polls",
    )
    ax.set_ylim(bottom=-0.04 * ax.get_ylim()[1])  # a cap at 0 shows: the range starts there
    ax.axhline(0, color="0.5", linewidth=0.6)
    ax.set_xticks(
        range(1, 21),
        [
            f"{'1er' if n == 1 else f'{n}e'}\n{counts.loc[n, 'empty']}/{counts.loc[n, 'full']}"
            for n in range(1, 21)
        ],
    )
    ax.set_xlim(0.4, 20.6)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("Paris arrondissement, and its n of complete episodes (empty/full)")
    ax.set_ylabel("episode length (minutes)")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
what = "Capped range: where the median length lies (the bounds' medians)"
what += "; thin line: holds the middle half"
thin_areas = int((counts.to_numpy() < min_episodes).sum() - (counts.to_numpy() == 0).sum())
what += (
    f"; hatched: {thin_areas} ranges resting on fewer than {min_episodes} episodes (not drawn)"
    if thin_areas
    else f"; every range rests on {min_episodes} episodes at least"
)
figures.add_caption(fig, observation.caption(start, end, what, res))
_ = tables.save_figure(fig, fig_dir / "episodes_per_arrondissement.png", close=False)

# %% [markdown]
# ## By hour of the start (Europe/Paris), beside the observation process
# Starts of episodes (not left-censored) spread over the hours they may have happened
# in, per 1000 station-hours under observation in that hour (bars), with the 95 %
# interval of the count of starts (Poisson) and, above each hour, its n of observed
# station-hours; an hour under observation less than `min_station_hours` has no rate
# and no median (hatched): too few station-hours to say. A start is
# recorded only if the episode outlasts the gap to the next poll, so an hour seen
# through longer gaps misses more short episodes: the dots count only starts and
# station-hours between polls a typical gap apart (the middle half of the recording's
# gaps), the same resolution in every hour. Then where the median length of complete
# ones lies (by the same weights), and the polls themselves: how many fell in each hour
# over the recording, and how far apart they were. An hour with no station-hour under
# observation is grey (no rate, not a 0).

# %%
stale = alerts.loc[alerts["alert"] == vocabulary.STALE, ["station_code", "at"]]
# the stream's stale_after: a longer gap between two sightings is not observation
longest = project.parse_duration(project.params_section("stream")["stale_after"])
spans = observation.observed_intervals(seen, stale, longest)
gaps = observation.gaps_minutes(polls)
typical = (float(gaps.quantile(0.25)), float(gaps.quantile(0.75))) if len(gaps) else (0.0, 0.0)
rates = episodes.hourly_rates(found, spans)
like = episodes.hourly_rates(found, spans, gaps=typical)
observed = rates["station_hours"] > 0
per_hour = observation.polls_per_hour(polls)
weights = episodes.start_hours(found)
medians = {}
for condition in episodes.CONDITIONS:
    mine = done[done["condition"] == condition].index.intersection(weights.index)
    for bound in ("lower", "upper"):
        medians[(condition, bound)] = [
            episodes.weighted_median(done.loc[mine, f"{bound}_minutes"], weights.loc[mine, h])
            for h in range(24)
        ]

# an hour under observation less than min_station_hours: no rate, no median (hatched)
thin = rates["station_hours"] < min_station_hours
thin_like = like["station_hours"] < min_station_hours
fig = plt.figure(figsize=(12, 8.8), layout="constrained")
cells = fig.add_gridspec(3, 4, height_ratios=(3, 2.2, 1.8))
top = fig.add_subplot(cells[0, :3])
middle = fig.add_subplot(cells[1, :3], sharex=top)
bottom = fig.add_subplot(cells[2, :3], sharex=top)
right = fig.add_subplot(cells[:, 3])
hours = np.arange(24)
for offset, condition in ((-0.2, "empty"), (0.2, "full")):
    shown = rates[f"{condition}_per_1000"].where(~thin).to_numpy()
    low, high = stats.poisson_interval(rates[f"{condition}_starts"])
    exposure = rates["station_hours"].where(~thin).to_numpy()
    top.bar(hours + offset, shown, width=0.4, color=COLORS[condition], label=condition)
    top.errorbar(
        hours + offset,
        shown,
        yerr=[shown - low / exposure * 1000, high / exposure * 1000 - shown],
        fmt="none",
        ecolor="black",
        elinewidth=0.9,
        capsize=2,
    )
    top.plot(
        hours + offset,
        like[f"{condition}_per_1000"].where(~thin_like),
        "o",
        color="black",
        markersize=3.5,
        markerfacecolor=COLORS[condition],
    )
    figures.ranges(
        middle,
        hours + offset,
        np.where(thin, np.nan, medians[(condition, "lower")]),
        np.where(thin, np.nan, medians[(condition, "upper")]),
        color=COLORS[condition],
        linewidth=2.5,
        cap=6,
        label=condition,
    )
top.errorbar([], [], yerr=[], fmt="none", ecolor="black", elinewidth=0.9, label="95 % interval")
top.plot(
    [],
    [],
    "o",
    color="black",
    markersize=3.5,
    markerfacecolor="white",
    label=f"gaps of {typical[0]:.0f}–{typical[1]:.0f} min only",
)
top.set_ylabel("starts per 1000\nobserved station-hours")
top.set_ylim(bottom=0)
fig.suptitle("When empty and full episodes start, how long they last, and when polls were taken")
top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.13), ncol=4, frameon=False, fontsize=9)
n_axis = top.secondary_xaxis("top")
n_axis.set_xticks(hours, [figures.compact_count(v) for v in rates["station_hours"]], fontsize=7)
n_axis.tick_params(length=0, pad=1)
n_axis.set_xlabel("n: observed station-hours", fontsize=8, labelpad=2)
middle.set_ylim(bottom=-0.04 * middle.get_ylim()[1])  # a cap at 0 shows
middle.set_ylabel("median length of\ncomplete ones\nlies in (min)")
bottom.bar(hours, per_hour, width=0.7, color="0.45")
bottom.set_ylabel("polls in\nthat hour")
bottom.set_xticks(hours)
bottom.set_xlabel("hour of the day, local time (Europe/Paris)")
for ax in (top, middle, bottom):
    ax.grid(alpha=0.3)
    for hour in np.flatnonzero(~observed.to_numpy()):
        ax.axvspan(
            hour - 0.5, hour + 0.5, color=figures.NO_DATA_COLOR, zorder=0, gid=figures.NO_DATA_GID
        )
for ax in (top, middle):
    figures.hatch_thin_columns(ax, np.flatnonzero((thin & observed).to_numpy()))
    ax.tick_params(labelbottom=False)
if len(gaps):
    bins = np.geomspace(max(float(gaps.min()), 1.0), max(float(gaps.max()), 2.0) * 1.05, 25)
    right.hist(gaps.clip(lower=1), bins=bins, color="0.45")
    right.axvspan(*typical, color="0.85", zorder=0, label="middle half")
    right.axvline(
        res.gap_median_minutes,
        color="black",
        linestyle=":",
        linewidth=1.2,
        label=f"median {observation.duration(res.gap_median_minutes)}",
    )
    right.legend(fontsize=8, loc="upper right")
    right.set_xscale("log")
else:
    figures.none_panel(right, "fewer than two polls")
right.set_title("Gap between consecutive polls", fontsize=10)
right.set_xlabel("minutes (log)")
right.set_ylabel("gaps")
right.grid(alpha=0.3)
no_data = int((~observed).sum())
few = int((thin & observed).sum())
what = (
    "Starts spread over their interval between polls, per station-hour under observation, "
    "with the 95 % Poisson interval of the starts; n above each hour"
)
what += f"; grey: {no_data} h never under observation" if no_data else ""
what += (
    f"; hatched: {few} h under observation less than {min_station_hours:,} station-hours "
    "(no rate, no median drawn)"
    if few
    else f"; every hour rests on at least {min_station_hours:,} station-hours"
)
figures.add_caption(fig, observation.caption(start, end, what, res))
_ = tables.save_figure(fig, fig_dir / "episodes_by_hour.png", close=False)

# %% [markdown]
# ## Do the rates follow the scraper?
# The old rule counted starts at the poll that saw them, per day with data in that
# hour: a rate that follows how many polls fell in the hour. The correlation (Pearson
# r across Paris hours 07–23) between polls per hour and each rate (old per day, per
# observed station-hour, and per observed station-hour between polls a typical gap
# apart) is in the metrics.

# %%
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
old_days = heatmaps.hourly_cells(network, stations[("network", "all")], observed_only=False)
old_days = old_days[old_days["coverage"] >= min_coverage].groupby("hour").size().reindex(range(24))
opened = found[~found["left_censored"]]
opened_hour = clock.paris_hour(opened["start"]).to_numpy()
old_starts = opened.groupby([opened_hour, opened["condition"]]).size().unstack()
old_starts = old_starts.reindex(index=range(24), columns=list(episodes.CONDITIONS)).fillna(0)
per_day = old_starts.div(old_days, axis=0)
day_hours = list(range(7, 24))


def r_with_polls(values: pd.Series) -> float:
    pair = pd.DataFrame({"polls": per_hour, "rate": values}).loc[day_hours].dropna()
    if len(pair) < 3 or pair["polls"].nunique() < 2 or pair["rate"].nunique() < 2:
        return float("nan")
    return float(np.corrcoef(pair["polls"], pair["rate"])[0, 1])


correlation = {
    f"r_polls_vs_{rule}_{condition}": r_with_polls(values[key.format(condition)])
    for rule, values, key in (
        ("per_day", per_day, "{}"),
        ("per_station_hour", rates, "{}_per_1000"),
        ("per_station_hour_typical_gaps", like, "{}_per_1000"),
    )
    for condition in episodes.CONDITIONS
}
print(
    pd.DataFrame(
        {
            "polls": per_hour,
            **{f"{c}/day (old)": per_day[c] for c in per_day},
            **{f"{c}/1000 station-h": rates[f"{c}_per_1000"] for c in per_day},
            **{f"{c} typical gaps": like[f"{c}_per_1000"] for c in per_day},
        }
    )
    .round(2)
    .to_string()
)

# %% [markdown]
# ## Numbers
# `episodes_by_hour.csv` is what `dvc plots show` draws (with each rate's n, the
# observed station-hours, and its 95 % interval); `episodes.json` the headline
# (episodes, the bounds of the median length); `episodes_by_hour.json` the correlations
# of the rates with polls per hour.

# %%
table = pd.DataFrame(
    {
        "hour": hours,
        "polls": per_hour.to_numpy(),
        "observed_station_hours": rates["station_hours"].to_numpy(),
        **{
            f"{condition}_{column}": frame[f"{condition}_{key}"].to_numpy()
            for condition in episodes.CONDITIONS
            for frame, key, column in (
                (rates, "starts", "starts"),
                (rates, "per_1000", "per_1000_station_hours"),
                (like, "per_1000", "per_1000_typical_gaps"),
            )
        },
        **{
            f"{condition}_median_minutes_{'low' if bound == 'lower' else 'high'}": medians[
                (condition, bound)
            ]
            for condition in episodes.CONDITIONS
            for bound in ("lower", "upper")
        },
    }
)
for condition in episodes.CONDITIONS:  # the 95 % interval of each rate, from its starts
    low, high = stats.poisson_interval(rates[f"{condition}_starts"])
    exposure = rates["station_hours"].where(rates["station_hours"] > 0).to_numpy()
    table[f"{condition}_per_1000_station_hours_low"] = low / exposure * 1000
    table[f"{condition}_per_1000_station_hours_high"] = high / exposure * 1000
tables.write_csv(table, root / metrics_dir / "episodes_by_hour.csv")
metrics = {
    "censored_share": 1 - len(done) / len(found) if len(found) else None,
    **{
        f"{condition}_{key}": value
        for condition in episodes.CONDITIONS
        for key, value in (
            ("episodes", int(summary.loc[condition, "episodes"])),
            ("median_minutes_low", summary.loc[condition, "lower_median"]),
            ("median_minutes_high", summary.loc[condition, "upper_median"]),
        )
    },
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "episodes.json")
print(tables.metrics_text(metrics))
by_hour = {**correlation, **res.metrics()}
tables.write_json(by_hour, root / metrics_dir / "episodes_by_hour.json")
print(tables.metrics_text(by_hour))
