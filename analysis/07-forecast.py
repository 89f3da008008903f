# %% [markdown]
# # 07 — Forecasts at +15, +30 and +60 minutes, on held-out days
# Will there be a bike (a dock) when I get there? `velib forecast` (docs/forecast.md)
# forecasts every station's bikes and docks 15, 30 and 60 minutes after each 15-minute
# issue time, with an 80 % interval and P(empty), P(full), from what was observed
# before the issue time only. Here it is scored on **held-out days**: each day is
# forecast by a model trained on the days before it (rolling origin), and only
# **observed targets** count (a poll listing the station within 7.5 minutes of the
# target time). The model is compared with **persistence** (the state in force at issue
# time) and **climatology** (the station's mean at that Paris hour and day type over
# the earlier days) on the same targets.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
forecast_dir = "data/forecast"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.forecast import evaluate, metrics
from pipeline.research import figures, observation, stats, tables

NAME = "07-forecast"
root = tables.project_root()
fig_dir = root / figures_dir / NAME
scored = pd.read_parquet(root / forecast_dir / "scored.parquet")
details = pd.read_csv(root / metrics_dir / "forecast_details.csv")
common = evaluate.common(scored)
start, end = scored["issued_at"].min(), scored["target_at"].max()
days = sorted(scored["issue_day"].unique())
observed = observation.resolution(tables.read_table(root / processed_dir, "polls"))
COLORS = figures.COLORS  # one colour per concept: model, each baseline, each horizon
top = details[details["by"] == "all"].set_index("horizon")
print(f"held-out days: {', '.join(days)}; scored targets {len(scored)}, common {len(common)}")
print(
    top[
        [
            "n",
            "mae_model",
            "mae_persistence",
            "mae_climatology",
            "skill_vs_persistence",
            "skill_vs_climatology",
            "bss_empty_vs_persistence",
            "interval_coverage",
        ]
    ]
    .round(3)
    .to_string()
)


def caption(what: str) -> str:
    """The caption of every figure: held-out days and the recording's resolution."""
    held_out = f"{what}; held-out days {days[0]} to {days[-1]}"
    return observation.caption(start, end, held_out, observed)


# %% [markdown]
# ## Error by horizon, against both baselines
# Mean absolute error in bikes on the common targets (persistence not stale, all three
# models defined); the number above each group is the model's skill against persistence
# (1 - MAE ratio) with its 95 % block-bootstrap interval (day x station blocks).

# %%
fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
horizons = list(top.index)
width = 0.26
for i, (name, col) in enumerate(
    (("model", "mae_model"), ("persistence", "mae_persistence"), ("climatology", "mae_climatology"))
):
    x = np.arange(len(horizons)) + (i - 1) * width
    ax.bar(x, top[col], width, color=COLORS[name], label=name)
for j, h in enumerate(horizons):
    lo = 1 - top.loc[h, "mae_ratio_vs_persistence_hi"]  # the skill's 95 % interval
    hi = 1 - top.loc[h, "mae_ratio_vs_persistence_lo"]
    ax.annotate(
        f"skill {top.loc[h, 'skill_vs_persistence']:+.1%}\n[{lo:+.1%}, {hi:+.1%}]"
        f"\nn = {int(top.loc[h, 'n']):,}",
        (j, float(top.loc[h, ["mae_model", "mae_persistence", "mae_climatology"]].max())),
        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8,
    )  # fmt: skip
ax.set_xticks(np.arange(len(horizons)), [f"+{h} min" for h in horizons])
ax.set_ylabel("MAE (bikes)")
ax.set_ylim(0, float(top[["mae_model", "mae_persistence", "mae_climatology"]].max().max()) * 1.45)
ax.set_title("Forecast error by horizon: the model against persistence and climatology")
ax.legend(loc="upper left", fontsize=8, ncols=3)  # one row, above the skill labels
ax.grid(axis="y", alpha=0.3)
figures.add_caption(fig, caption("Observed targets only (a poll within 7.5 min)"))
_ = tables.save_figure(fig, fig_dir / "forecast_skill.png", close=False)

# %% [markdown]
# ## Are the probabilities calibrated?
# Reliability diagram at the longest horizon (the one the Brier skill in the titles is
# for): within each bin of forecast probability, how often the station was really empty
# (full) at the target, with a 95 % Wilson interval (as if targets were independent:
# they are not quite, so read it as a lower bound of the uncertainty); under it, how
# many targets each bin holds (log scale: most forecasts are near 0). On the diagonal,
# "30 %" happens 30 % of the time. Persistence's 0/1 forecast is the two end points;
# the smoothed persistence (P(empty at target | bikes now), learnt on earlier days) is
# the fair baseline.

# %%
last = horizons[-1]
at_last = common[common["horizon_min"] == last]
fig, grid = plt.subplots(
    2, 2, figsize=(11, 6.4), layout="constrained", sharex=True, height_ratios=(3, 1.3)
)
for k, event in enumerate(("empty", "full")):
    ax, counts = grid[0, k], grid[1, k]
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for j, (name, col, color) in enumerate(
        (
            ("model", f"p_{event}", COLORS["model"]),
            ("smoothed persistence", f"spers_p_{event}", COLORS["smoothed_persistence"]),
        )
    ):
        rel = metrics.reliability(at_last[event], at_last[col])
        freq = rel["y_mean"].to_numpy()  # arrays: matplotlib floats a one-bin Series
        low, high = stats.wilson_interval(freq * rel["n"].to_numpy(), rel["n"].to_numpy())
        ax.errorbar(
            rel["p_mean"].to_numpy(),
            freq,
            yerr=[freq - low, high - freq],
            marker="o",
            markersize=4,
            capsize=2,
            color=color,
            label=name,
        )
        edges = np.floor(rel["p_mean"].to_numpy() * 10) / 10
        counts.bar(edges + 0.025 + j * 0.05, rel["n"], width=0.05, color=color, align="center")
    bss = top.loc[last, f"bss_{event}_vs_persistence"]
    ax.set_title(f"P({event}) at +{last} min\nBrier skill {bss:+.2f} against 0/1 persistence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    counts.set_yscale("log")
    counts.set_xlabel(f"forecast P({event}), bins of 0.1")
    counts.grid(alpha=0.3)
grid[0, 0].set_ylabel("observed frequency at the target")
grid[1, 0].set_ylabel("targets\nper bin (log)")
what = f"+{last} min only, {len(at_last):,} common targets; 95 % Wilson intervals per bin"
figures.add_caption(fig, caption(what))
_ = tables.save_figure(fig, fig_dir / "reliability.png", close=False)

# %% [markdown]
# ## By hour of the day
# MAE at +60 min by the target's Paris hour, and the share of targets inside the 80 %
# interval (it should stay near 0.8), with each hour's n of targets above it: an hour
# polled less rests on fewer targets. An hour without any poll is a gap.

# %%
hours = details[(details["by"] == "hour") & (details["horizon"] == horizons[-1])].copy()
hours["hour"] = hours["group"].astype(int)
hours = hours.set_index("hour").reindex(range(24)).reset_index()  # no poll: a gap, not a line
fig, (ax, cov) = plt.subplots(2, 1, figsize=(11, 6.4), layout="constrained", sharex=True,
                              height_ratios=[2, 1])  # fmt: skip
for name in ("model", "persistence", "climatology"):
    ax.plot(hours["hour"], hours[f"mae_{name}"], marker="o", color=COLORS[name], label=name)
ax.set_ylabel("MAE (bikes)")
fig.suptitle(f"Error at +{horizons[-1]} min by the target's Paris hour")
n_axis = ax.secondary_xaxis("top")  # n of scored targets in each hour
n_axis.set_xticks(range(24), [figures.compact_count(v) for v in hours["n"]], fontsize=7)
n_axis.tick_params(length=0, pad=1)
n_axis.set_xlabel("n: common targets in that hour", fontsize=8, labelpad=2)
ax.legend(fontsize=8, ncols=3, loc="upper left")
ax.set_ylim(0, float(hours[["mae_model", "mae_persistence", "mae_climatology"]].max().max()) * 1.25)
ax.grid(alpha=0.3)
cov.plot(hours["hour"], hours["interval_coverage"], marker="o", color=COLORS["model"],
         label="share inside the 80 % interval")  # fmt: skip
cov.axhline(0.8, color="0.4", linestyle="--", linewidth=1, label="0.8")
lowest = (
    float(hours["interval_coverage"].min()) if hours["interval_coverage"].notna().any() else 0.5
)
cov.set_ylim(min(0.5, np.floor(lowest * 10) / 10), 1.0)  # an hour far below 0.8 stays on the axis
cov.set_xlim(-0.5, 23.5)
cov.set_xticks(range(0, 24, 2))
cov.set_xlabel("hour of the target (Europe/Paris)")
cov.set_ylabel("coverage")
cov.legend(fontsize=8, loc="lower right")
cov.grid(alpha=0.3)
figures.add_caption(
    fig, caption("n above each hour; hours without polls have no observed target (a gap)")
)
_ = tables.save_figure(fig, fig_dir / "by_hour.png", close=False)

# %% [markdown]
# ## By arrondissement
# Skill against persistence at +60 min per Paris arrondissement (and outside Paris).

# %%
areas = details[(details["by"] == "arrondissement") & (details["horizon"] == horizons[-1])].copy()
order = {str(n): n for n in range(1, 21)}
areas["order"] = areas["group"].map(lambda g: order.get(str(g).split(".")[0], 99))
areas = areas.sort_values("order")
labels = ["outside\nParis" if o == 99 else f"{o}" for o in areas["order"]]
fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
skill = areas["skill_vs_persistence"].to_numpy(float)
upper = 1 - areas["mae_ratio_vs_persistence_lo"].to_numpy(float)  # the interval of the skill
lower = 1 - areas["mae_ratio_vs_persistence_hi"].to_numpy(float)
bars = ax.bar(range(len(areas)), skill, color=COLORS["model"])
ax.errorbar(range(len(areas)), skill, yerr=[skill - lower, upper - skill], fmt="none",
            ecolor="black", elinewidth=0.8, capsize=2)  # fmt: skip
for i, (top_end, n) in enumerate(zip(upper, areas["n"], strict=True)):
    ax.annotate(f"{int(n)}", (i, max(float(top_end), 0.0)), xytext=(0, 4),
                textcoords="offset points", ha="center", fontsize=6.5, rotation=90)  # fmt: skip
ax.axhline(0, color="black", linewidth=0.8)
ax.set_xticks(range(len(areas)), labels, fontsize=8)
ax.set_xlabel("Paris arrondissement (n of targets above each bar; 95 % bootstrap interval)")
ax.set_ylabel("skill vs persistence (1 - MAE ratio)")
low = min(float(areas["skill_vs_persistence"].min()), 0.0)
low = min(low, float(lower.min()))
ax.set_ylim(low - 0.05, float(upper.max()) + 0.12)
ax.set_title(f"Skill against persistence at +{horizons[-1]} min by arrondissement")
ax.grid(axis="y", alpha=0.3)
figures.add_caption(fig, caption("Common targets"))
_ = tables.save_figure(fig, fig_dir / "by_arrondissement.png", close=False)

# %% [markdown]
# ## What a horizon means at this polling resolution
# A target is scored at a poll; the forecast starts from the station's last poll before
# the issue time. With a snapshot about every hour, the *effective lead* (target poll
# minus the last observation used) is about an hour at +15 and +30 min alike: both
# horizons usually start from the **same observation**, so at this resolution the 15-
# and 30-minute forecasts are one forecast, and only a minute-polled feed gives them
# meaning.

# %%
res = evaluate.resolution(scored)
fig, ax = plt.subplots(figsize=(10, 4.6), layout="constrained")
bins = np.arange(0, 241, 10)
for h, dash in zip(horizons, ("--", "-", "-"), strict=False):
    color = COLORS[f"horizon_{h}"]
    lead = scored.loc[scored["horizon_min"] == h, "lead_min"].dropna()
    counts, _ = np.histogram(lead.clip(upper=239), bins=bins)
    label = f"+{h} min: median lead {lead.median():.0f} min"
    ax.plot(bins[:-1] + 5, counts, drawstyle="steps-mid", linewidth=1.6, color=color,
            linestyle=dash, label=label, zorder=3 if dash == "--" else 2)  # fmt: skip
same = res.get("same_obs_h15_h30")
ax.set_title(
    "Effective lead of scored targets"
    + (f": +15 and +30 min start from the same observation {same:.1%} of the time" if same else "")
)
ax.set_xlabel("target poll minus the last observation used (minutes)")
ax.set_ylabel("targets")
ax.set_xlim(0, 240)
ax.legend(fontsize=8, loc="upper right")
ax.grid(alpha=0.3)
figures.add_caption(fig, caption("Leads over 4 h drawn at 4 h"))
_ = tables.save_figure(fig, fig_dir / "resolution.png", close=False)
print(res)
