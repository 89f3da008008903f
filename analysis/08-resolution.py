# %% [markdown]
# # 08 — What an hourly recording cannot see
# The same statistics of empty and full episodes on every recording of `params.yaml`
# (`recordings`), side by side: the May 2022 open-data history, polled about once an
# hour, and the November 2024 open-data API, polled every 5 minutes (daytime only).
# Two recordings differ in more than their resolution (season, year, network), so the
# 5-minute recording is also **read at the hourly recording's resolution**: only the
# polls at least its median gap apart are kept (`episodes.thinned`), the same days, the
# same stations. What changes between the 5-minute column and that one is the
# resolution alone.
#
# Every statistic is read off the polls the same way for every column
# (`episodes.sighted`, `episodes.from_sightings`): each station's condition at each
# poll that listed it (the record in force then); an episode is a run of polls in one
# condition, so its length lies between *last minus first poll in it* and *first poll
# out of it minus last poll before it*. A station is under observation from one poll to
# the next one that lists it when no poll in between missed it and the gap is at most
# the stream's `stale_after` (an unpolled night is not observed): an episode with an end
# outside that is censored (only its lower bound is known) and counted apart.
#
# - **Lengths as bounds**: for complete episodes, the share still running after *t*
#   lies between the share whose lower bound exceeds *t* and the share whose upper one
#   does (the band); the narrower the band, the better the recording knows the length.
# - **Short or not**: whether an episode lasted under `short_minutes` is known only
#   when its upper bound is under it (surely short) or its lower bound is not (surely
#   not); otherwise the recording cannot say.
# - **Starts per 1000 observed station-hours**: episodes whose start was seen between
#   two polls, over the time under observation, with a 95 % Poisson interval. An episode
#   shorter than the gap between polls can fall between two of them and is never seen.

# %% tags=["parameters"]
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
short_minutes = 30

# %%
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.research import episodes, figures, maps, observation, stats, tables
from pipeline.settings import project, recordings
from pipeline.settings.shared import STALE_AFTER

NAME = "08-resolution"
root = tables.project_root()
params = project.load_params(root / "params.yaml")
stale_after = project.parse_duration((params.get("stream") or {}).get("stale_after", STALE_AFTER))
max_gap = stale_after.total_seconds() / 60
COLORS = figures.COLORS  # one colour per concept, as in the Vega charts
STATUS = ["station_code", "observed_at", "bikes_available", "docks_available"]
STATUS += ["is_installed", "is_renting", "is_returning"]


@dataclass
class View:
    """One column of the comparison: a recording's polls, as recorded or thinned."""

    key: str
    label: str
    polls: pd.DataFrame
    status: pd.DataFrame

    @property
    def resolution(self) -> observation.Resolution:
        return observation.resolution(self.polls)


views = []
for recording in recordings.recordings(params).values():
    processed = root / recording.processed  # the stream stage's export of it
    polls = tables.read_table(processed, "polls")
    status = tables.read_table(processed, "status", STATUS)
    views.append(View(recording.name, recording.name, polls, status))
coarse = max(views, key=lambda v: v.resolution.gap_median_minutes)
step = coarse.resolution.gap_median_minutes
for fine in [v for v in views if v.resolution.gap_median_minutes * 2 < step]:
    thin = episodes.thinned(fine.polls, step)
    label = f"{fine.key} read every {step:.0f} min"
    views.append(View(f"{fine.key}@{step:.0f}min", label, thin, fine.status))

found = {}
spans = {}
for view in views:
    states = episodes.sighted(view.status, view.polls)
    found[view.key], spans[view.key] = episodes.from_sightings(states, max_gap)
start = min(v.polls["observed_at"].min() for v in views)
end = max(v.polls["observed_at"].max() for v in views)
print(
    f"{len(views)} views: "
    + "; ".join(f"{v.label}: {v.resolution.text()}" for v in views)
    + f"; under observation up to {observation.duration(max_gap)} between polls"
)

# %% [markdown]
# ## The numbers, per view and condition
# `resolution.csv`: per view and condition, the polls and their median gap, the complete
# episodes (n) and the median length's bounds, the shares surely short, undetermined and
# surely not short with their 95 % Wilson intervals (n = complete episodes), the starts,
# the observed station-hours and the rate per 1000 of them with its 95 % interval.

# %%
rows = []
for view in views:
    hours = float(observation.station_hours(spans[view.key]).sum())
    for condition in episodes.CONDITIONS:
        mine = found[view.key][found[view.key]["condition"] == condition]
        done = mine[mine["complete"]]
        n = len(done)
        short = int((done["upper_minutes"] <= short_minutes).sum())
        long = int((done["lower_minutes"] > short_minutes).sum())
        starts = int((~mine["left_censored"]).sum())
        low, high = stats.poisson_interval(starts)
        row = {
            "view": view.key,
            "condition": condition,
            "polls": view.resolution.polls,
            "poll_gap_median_minutes": view.resolution.gap_median_minutes,
            "complete_episodes": n,
            "median_minutes_low": done["lower_minutes"].median() if n else np.nan,
            "median_minutes_high": done["upper_minutes"].median() if n else np.nan,
            "starts": starts,
            "observed_station_hours": hours,
            "per_1000_station_hours": starts / hours * 1000 if hours else np.nan,
            "per_1000_station_hours_low": float(low) / hours * 1000 if hours else np.nan,
            "per_1000_station_hours_high": float(high) / hours * 1000 if hours else np.nan,
        }
        for kind, k in (("short", short), ("undetermined", n - short - long), ("long", long)):
            share_low, share_high = stats.wilson_interval(k, n)
            row[f"{kind}_share"] = k / n if n else np.nan
            row[f"{kind}_share_low"] = float(share_low)
            row[f"{kind}_share_high"] = float(share_high)
        rows.append(row)
table = pd.DataFrame(rows)
tables.write_csv(table, root / metrics_dir / "resolution.csv")
by = table.set_index(["view", "condition"])

# %% [markdown]
# ## The figure
# Top: lengths as bounds, one band per view (empty left, full right). Bottom left: how
# many complete episodes a view can call short (under `short_minutes`), not short, or
# cannot tell. Bottom right: starts per 1000 observed station-hours, with n (starts)
# and the 95 % interval.

# %%
STYLES = [  # one per view, the condition's colour throughout
    {"alpha": 0.5, "hatch": None},
    {"alpha": 0.15, "hatch": "///"},
    {"alpha": 0.15, "hatch": "..."},
]
fig = plt.figure(figsize=(12, 9), layout="constrained")
grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.05))
bands = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
bands[1].sharey(bands[0])
shares_ax, rates_ax = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
reach = 240.0
t = np.linspace(0, reach, 481)


def still_running(bounds: pd.Series) -> np.ndarray:
    values = np.sort(bounds.dropna().to_numpy(dtype="float64"))
    return 1 - np.searchsorted(values, t, side="right") / max(len(values), 1)


for ax, condition in zip(bands, episodes.CONDITIONS, strict=True):
    for view, style in zip(views, STYLES, strict=False):
        done = found[view.key]
        done = done[(done["condition"] == condition) & done["complete"]]
        ax.fill_between(
            t,
            still_running(done["lower_minutes"]) * 100,
            still_running(done["upper_minutes"]) * 100,
            step="post",
            facecolor=COLORS[condition] if style["hatch"] is None else "none",
            edgecolor=COLORS[condition],
            alpha=style["alpha"] if style["hatch"] is None else 0.9,
            hatch=style["hatch"],
            linewidth=0.8,
            label=f"{view.label} (n = {len(done)})",
        )
    ax.axhline(50, color="0.3", linewidth=0.8)
    ax.axvline(short_minutes, color="black", linestyle=":", linewidth=1)
    ax.set_xlim(0, reach)
    ax.set_xticks(np.arange(0, reach + 1, 30))
    ax.set_ylim(0, 100)
    ax.set_xlabel("episode length (minutes)")
    ax.set_title(f"{condition.capitalize()} episodes: length between its bounds", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
bands[0].set_ylabel("complete episodes still running (%)")

labels = [figures.wrap_label(v.label, 18) for v in views]
y = np.arange(len(views))[::-1]
for offset, condition in ((0.2, "empty"), (-0.2, "full")):
    left = np.zeros(len(views))
    for kind, face, hatch in (
        ("short", COLORS[condition], None),
        ("undetermined", "white", "///"),
        ("long", COLORS[condition], None),
    ):
        values = np.array([by.loc[(v.key, condition), f"{kind}_share"] for v in views]) * 100
        values = np.nan_to_num(values)
        shares_ax.barh(
            y + offset,
            values,
            0.38,
            left=left,
            color=face,
            alpha=0.35 if kind == "long" else 1.0,
            hatch=hatch,
            edgecolor="0.45" if hatch else "none",
            linewidth=0.5,
        )
        left = left + values
    for yy, view in zip(y, views, strict=True):
        n = int(by.loc[(view.key, condition), "complete_episodes"])
        shares_ax.text(101, yy + offset, f"{condition}, n = {n}", va="center", fontsize=7.5)
shares_ax.set_yticks(y, labels, fontsize=8)
shares_ax.set_xlim(0, 100)
shares_ax.set_xlabel(f"share of complete episodes (%): under {short_minutes} min | ? | not")
shares_ax.set_title(
    f"Shorter than {short_minutes} min? solid: surely, hatched: cannot tell, pale: surely not",
    fontsize=10,
)
shares_ax.grid(axis="x", alpha=0.3)

x = np.arange(len(views))
for offset, condition in ((-0.18, "empty"), (0.18, "full")):
    rate = np.array([by.loc[(v.key, condition), "per_1000_station_hours"] for v in views])
    low = np.array([by.loc[(v.key, condition), "per_1000_station_hours_low"] for v in views])
    high = np.array([by.loc[(v.key, condition), "per_1000_station_hours_high"] for v in views])
    rates_ax.bar(x + offset, rate, 0.36, color=COLORS[condition], label=condition)
    rates_ax.errorbar(
        x + offset,
        rate,
        yerr=[np.clip(rate - low, 0, None), np.clip(high - rate, 0, None)],
        fmt="none",
        ecolor="0.15",
        capsize=3,
    )
    for xx, view, r in zip(x, views, rate, strict=True):
        starts = int(by.loc[(view.key, condition), "starts"])
        rates_ax.annotate(
            f"n = {starts}",
            (xx + offset, 0),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            rotation=90,
            color="white" if np.isfinite(r) and r > 0 else "0.2",
        )
rates_ax.set_xticks(x, labels, fontsize=8)
rates_ax.set_ylabel("episode starts per 1000\nobserved station-hours")
rates_ax.set_title("How often episodes start (95 % interval)", fontsize=10)
rates_ax.legend(fontsize=8, loc="upper right")
rates_ax.grid(axis="y", alpha=0.3)
fig.suptitle("Empty and full episodes at two resolutions: what an hourly recording cannot see")
what = "; ".join(f"{v.label}: {v.resolution.text()}" for v in views)
what += (
    f". Under observation between consecutive polls at most {observation.duration(max_gap)} "
    "apart (stream.stale_after); censored episodes not drawn"
)
figures.add_caption(fig, maps.caption(start, end, what))
_ = tables.save_figure(fig, root / figures_dir / NAME / "resolution.png", close=False)

# %% [markdown]
# ## Metrics
# `resolution.json`, for the finest recording against itself read at the coarsest
# recording's resolution (the same days and stations): the share of its episode starts
# that the coarser reading still sees, and how many of its complete empty episodes each
# reading can call short.

# %%
fine = next((v for v in views if "@" in v.key), None)
metrics = {"poll_gap_median_minutes_coarse": step, "short_minutes": short_minutes}
if fine is not None:
    finest = fine.key.split("@")[0]
    for condition in episodes.CONDITIONS:
        seen = by.loc[(fine.key, condition), "per_1000_station_hours"]
        full = by.loc[(finest, condition), "per_1000_station_hours"]
        metrics[f"{condition}_starts_seen_coarse_share"] = seen / full if full else None
    metrics["empty_short_share_fine"] = by.loc[(finest, "empty"), "short_share"]
    metrics["empty_undetermined_share_fine"] = by.loc[(finest, "empty"), "undetermined_share"]
    metrics["empty_undetermined_share_coarse"] = by.loc[(fine.key, "empty"), "undetermined_share"]
tables.write_json(metrics, root / metrics_dir / "resolution.json")
print(tables.metrics_text(metrics))
