# %% [markdown]
# # 06 — Empty and full episodes
# How long does a station stay empty (no bike to take) or full (no dock to return
# to)? An *episode* runs from the alert that puts a station in the condition to the
# station's next alert (`alerts/` of the stream; `pipeline/research/episodes.py`).
#
# **Censoring.** An episode whose next alert is `stale` (the station stopped
# reporting) or that is still running when the data ends is *right-censored*; one that
# opens with `back` (reporting again after being unknown) or with the station's first
# record is *left-censored*: either way its length is only a lower bound. Durations,
# medians and the by-hour figures use **complete** episodes only; censored ones are
# counted and drawn apart. Long episodes are the likeliest to be cut, so the complete
# ones under-represent them.
#
# **Resolution.** The stream sees a station only when a snapshot is taken: an episode
# starts and ends at snapshot times, and one shorter than the gap between two
# snapshots can be missed entirely (the typical gap is printed below).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
min_coverage = 0.5

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.research import episodes, figures, heatmaps, maps, tables

NAME = "06-empty-full-episodes"
root = tables.project_root()
processed = root / processed_dir
fig_dir = root / figures_dir / NAME
alerts = tables.read_table(processed, "alerts")
area = tables.read_table(processed, "indicators_area")
network = area[area["area_level"] == "network"]
start, end = tables.data_span(network)
found = episodes.episodes(alerts, end)
found["hour"] = found["start"].dt.tz_convert(tables.PARIS_TZ).dt.hour
done = found[found["complete"]]
snapshots = tables.read_table(processed, "status", ["observed_at"])["observed_at"].unique()
gap_minutes = float(pd.Series(np.diff(np.sort(snapshots))).dt.total_seconds().median() / 60)
summary = episodes.summary(found)
caption = maps.caption(start, end, f"Snapshots every ~{gap_minutes:.0f} min (median)")
COLORS = {"empty": "#c44e52", "full": "#4c72b0"}
print(
    f"{len(found)} episodes, {len(done)} complete; median gap between snapshots "
    f"{gap_minutes:.0f} min"
)
print(summary.round(3).to_string())

# %% [markdown]
# ## How long episodes last
# Log-spaced bins; complete episodes filled, censored ones (lower bounds) as an outline.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, layout="constrained")
longest = max(float(found["minutes"].max()) if len(found) else 60.0, 60.0)
bins = np.geomspace(1, longest * 1.2, 30)
for ax, condition in zip(axes, episodes.CONDITIONS, strict=True):
    mine = found[found["condition"] == condition]
    complete = mine.loc[mine["complete"], "minutes"].clip(lower=1)
    censored = mine.loc[~mine["complete"], "minutes"].clip(lower=1)
    ax.hist(complete, bins=bins, color=COLORS[condition], label=f"complete ({len(complete)})")
    ax.hist(
        censored,
        bins=bins,
        histtype="step",
        color="0.2",
        linewidth=1.2,
        label=f"censored, a lower bound ({len(censored)})",
    )
    if len(complete):
        median = float(complete.median())
        ax.axvline(
            median,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"median of complete: {median:.0f} min",
        )
    ax.set_xscale("log")
    ax.set_xlabel("episode length (minutes, log scale)")
    ax.set_title(f"{condition.capitalize()} episodes")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("episodes")
figures.add_caption(fig, caption)
_ = tables.save_figure(fig, fig_dir / "episode_durations.png", close=False)

# %% [markdown]
# ## Per arrondissement
# Complete episodes of Paris stations; boxes span the middle half, whiskers 1.5 × IQR;
# under each arrondissement, its n of complete episodes (empty / full).

# %%
paris = done[done["arrondissement"].notna()]
counts = paris.groupby(["arrondissement", "condition"]).size().unstack().reindex(range(1, 21))
counts = counts.reindex(columns=list(episodes.CONDITIONS)).fillna(0).astype(int)
fig, ax = plt.subplots(figsize=(12, 4.8), layout="constrained")
ax.set_title("Length of complete empty and full episodes per arrondissement", pad=24)
if paris.empty:
    figures.none_panel(ax, "no complete episode at a Paris station in this data")
for offset, condition in ((-0.2, "empty"), (0.2, "full")):
    mine = paris[paris["condition"] == condition]
    data = [mine.loc[mine["arrondissement"] == n, "minutes"].to_numpy() for n in range(1, 21)]
    where = [n + offset for n in range(1, 21) if len(data[n - 1])]
    if not where:
        continue
    boxes = ax.boxplot(
        [d for d in data if len(d)],
        positions=where,
        widths=0.35,
        patch_artist=True,
        showfliers=False,
        medianprops={"color": "black"},
    )
    for patch in boxes["boxes"]:
        patch.set_facecolor(COLORS[condition])
    ax.plot([], [], color=COLORS[condition], linewidth=8, label=f"{condition} ({len(mine)})")
if not paris.empty:
    ax.set_yscale("log")
    ax.set_xticks(
        range(1, 21),
        [
            f"{'1er' if n == 1 else f'{n}e'}\n{counts.loc[n, 'empty']}/{counts.loc[n, 'full']}"
            for n in range(1, 21)
        ],
    )
    ax.set_xlim(0.4, 20.6)
    ax.set_xlabel("Paris arrondissement, and its n of complete episodes (empty/full)")
    ax.set_ylabel("episode length (minutes, log)")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
figures.add_caption(fig, caption)
_ = tables.save_figure(fig, fig_dir / "episodes_per_arrondissement.png", close=False)

# %% [markdown]
# ## By hour of the start (Europe/Paris)
# Episodes starting in each local hour, per day on which that hour has data (at least
# `min_coverage` of the stations known), and the median length of those that complete.

# %%
places = ["window_start", "window_end", "station_code", "commune", "arrondissement"]
stations = tables.stations_per_area(tables.read_table(processed, "indicators_station", places))
cells = heatmaps.hourly_cells(network, stations[("network", "all")])
days = cells[cells["coverage"] >= min_coverage].groupby("hour").size().reindex(range(24))
starts = found[~found["left_censored"]].groupby(["hour", "condition"]).size().unstack()
starts = starts.reindex(index=range(24), columns=list(episodes.CONDITIONS)).fillna(0)
medians = done.groupby(["hour", "condition"])["minutes"].median().unstack()
medians = medians.reindex(index=range(24), columns=list(episodes.CONDITIONS))
per_day = starts.div(days, axis=0)
fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, layout="constrained")
hours = np.arange(24)
for offset, condition in ((-0.2, "empty"), (0.2, "full")):
    top.bar(hours + offset, per_day[condition], width=0.4, color=COLORS[condition], label=condition)
    bottom.plot(hours, medians[condition], marker="o", color=COLORS[condition], label=condition)
top.set_ylabel("episodes starting\nper day with data")
top.set_title("When empty and full episodes start, and how long they last", pad=24)
top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False, fontsize=9)
bottom.set_ylabel("median length of\ncomplete ones (min)")
bottom.set_ylim(bottom=0)
bottom.set_xticks(hours)
bottom.set_xlabel("hour of the start, local time (Europe/Paris)")
for ax in (top, bottom):
    ax.grid(alpha=0.3)
    for hour in days.index[days.isna()]:
        ax.axvspan(
            hour - 0.5, hour + 0.5, color=figures.NO_DATA_COLOR, zorder=0, gid=figures.NO_DATA_GID
        )
no_data = int(days.isna().sum())
figures.add_caption(fig, caption + (f" · grey: {no_data} hours without data" if no_data else ""))
_ = tables.save_figure(fig, fig_dir / "episodes_by_hour.png", close=False)

# %% [markdown]
# ## Numbers
# `episodes_by_hour.csv` is what `dvc plots show` draws; `episodes.json` the headline.

# %%
table = pd.DataFrame(
    {
        "hour": hours,
        "days": days.to_numpy(),
        "empty_starts_per_day": per_day["empty"].to_numpy(),
        "full_starts_per_day": per_day["full"].to_numpy(),
        "empty_median_minutes": medians["empty"].to_numpy(),
        "full_median_minutes": medians["full"].to_numpy(),
    }
)
tables.write_csv(table, root / metrics_dir / "episodes_by_hour.csv")
metrics = {
    "empty_episodes": int(summary.loc["empty", "episodes"]),
    "empty_median_minutes": summary.loc["empty", "median_minutes"],
    "full_episodes": int(summary.loc["full", "episodes"]),
    "full_median_minutes": summary.loc["full", "median_minutes"],
    "censored_share": 1 - len(done) / len(found) if len(found) else None,
}
tables.write_json(metrics, root / metrics_dir / "episodes.json")
print(tables.metrics_text(metrics))
