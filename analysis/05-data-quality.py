# %% [markdown]
# # 05 — Data quality
# What the real feed gets wrong, measured on the records themselves (`status/`, one
# row per station record the stream kept) and on what the stream refused
# (`_rejected/`, with the reason): capacity 0, bikes + docks that do not add up to the
# capacity, bike types that do not add up to the total, rejected Kafka values, and
# records of stations known only by a GBFS id that no reference table maps to a station
# code (`id:<station_id>`, `pipeline.record.is_placeholder`: never ranked or mapped as a
# known station by 03 and 04). How long stations went unknown comes from `alerts/`:
# *stale* has the stream's one meaning (`stream.stale_after` in params.yaml: polls kept
# coming and did not renew the station), from a `stale` alert to the station's next
# `back`. The station's own `last_reported` is not used: the feed re-stamps it
# (docs/forecast.md), so its age says nothing.
#
# Then **the observation process itself**, from the poll log (`polls/`, one row per
# snapshot ingest read): polls per Paris day and hour of the day, the gaps between
# them, how many stations each poll listed and how many disappeared since the previous
# one. Every other figure is only as fine as this: its caption gives the median gap.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import clock, vocabulary
from pipeline.record import is_placeholder
from pipeline.research import figures, observation, tables
from pipeline.settings import project

NAME = "05-data-quality"
root = tables.project_root()
processed = root / processed_dir
status = tables.read_status(processed)
rejected = tables.read_table(processed, "_rejected")
alerts = tables.read_table(processed, "alerts", ["station_code", "alert", "at"])
capacity = status["capacity"].astype("float64")
gap = status["bikes_available"] + status["docks_available"] - status["capacity"]
types = status["mechanical_available"] + status["ebike_available"] - status["bikes_available"]
reasons = rejected["reason"].astype(str).str.split(":").str[0].value_counts().sort_index()
went_unknown = alerts[alerts["alert"] == vocabulary.STALE]
stale_after = project.params_section("stream")["stale_after"]  # the stream's one meaning
# how long each station stayed unknown: from its stale alert to its next alert (back)
ordered = alerts.sort_values(["station_code", "at"], kind="stable")
following = ordered.groupby("station_code")["at"].shift(-1)
unknown_h = ((following - ordered["at"]).dt.total_seconds() / 3600)[
    ordered["alert"] == vocabulary.STALE
]
polls = tables.read_table(processed, "polls")
res = observation.resolution(polls)
placeholder = status["station_code"].astype(str).map(is_placeholder).astype(bool)
codes = status.groupby("station_code")["station_code"].first().astype(str)
unmapped_stations = int(codes.map(is_placeholder).sum())
print(
    f"{len(status)} status rows, {len(rejected)} rejected, {len(went_unknown)} stale alerts, "
    f"{int(placeholder.sum())} rows of {unmapped_stations} stations without a station code"
)

# %% [markdown]
# One panel per problem found: unmapped ids, stations gone stale and rejected records
# only when there are some (the caption says which are absent); each axis spans its
# data.

# %%
panels = ["gap"] + (["unmapped"] if placeholder.any() else [])
panels += (["stale"] if len(went_unknown) else []) + (["rejected"] if len(reasons) else [])
shape = (2, 2) if len(panels) == 4 else (1, len(panels))
fig, grid = plt.subplots(*shape, figsize=(12, 4.2 * shape[0]), layout="constrained", squeeze=False)
axes = dict(zip(panels, np.ravel(grid), strict=True))
known_gap = gap.dropna().astype(int)
wrong = known_gap[known_gap != 0]
reach = int(min(15, max(1, np.abs(wrong).max()))) if len(wrong) else 1
ax = axes["gap"]
ax.hist(known_gap.clip(-reach, reach), bins=range(-reach, reach + 2), color="0.45", align="left")
ax.set_yscale("log")
ax.set_xlim(-reach - 0.6, reach + 0.6)
ax.set_title(
    f"bikes + docks − capacity\n{len(wrong):,} of {len(known_gap):,} status rows "
    f"({len(wrong) / max(len(known_gap), 1):.1%})\ndo not add up"
    + (f"; clipped at ±{reach}" if reach == 15 else ""),
    fontsize=10,
)
ax.set_xlabel("docks (0: adds up)")
ax.set_ylabel("status rows (log)")
if "unmapped" in axes:
    ax = axes["unmapped"]
    ax.set_title("Without a station code\n(unmapped GBFS id)\n", fontsize=10)
counts = {  # bar: (share %, "n of total")
    "status rows": (placeholder.mean() * 100, f" {int(placeholder.sum()):,} of {len(status):,}"),
    "stations": (
        unmapped_stations / max(len(codes), 1) * 100,
        f" {unmapped_stations} of {len(codes)}",
    ),
}
shares = [share for share, _ in counts.values()]
if "unmapped" in axes:
    bars = ax.barh(list(counts), shares, color="0.45")
    ax.bar_label(bars, [f"{share:.2f} %,{text}" for share, text in counts.values()], fontsize=9)
    ax.set_xlim(0, max(shares) * 1.6)  # room for the labels, the axis fits the bars
    ax.set_xlabel("% of all (not ranked or mapped as known stations)")
if "stale" in axes:
    ax = axes["stale"]
    ended = unknown_h.dropna()
    if len(ended):
        bins = np.geomspace(max(float(ended.min()), 0.1), max(float(ended.max()), 1.0) * 1.05, 25)
        ax.hist(ended.clip(lower=0.1), bins=bins, color="0.45")
        ax.set_xscale("log")
    ax.set_title(
        f"Stations gone stale (stream.stale_after {stale_after})\n{len(went_unknown):,} alerts, "
        f"{int(unknown_h.isna().sum())} still unknown at the end\n",
        fontsize=10,
    )
    ax.set_xlabel("hours from the stale alert to back (log)")
    ax.set_ylabel("stale alerts")
if "rejected" in axes:
    ax = axes["rejected"]
    ax.set_title(f"Records rejected by the stream stage\n{len(rejected):,}", fontsize=10)
    labels = [figures.wrap_label(r, 28) for r in reasons.index]
    ax.barh(labels, reasons.to_numpy(), color="0.45")
    ax.set_xlabel("records")
fig.suptitle("Vélib' data quality")
start, end = status["observed_at"].min(), status["observed_at"].max()
what = "Every status row (a record the stream kept)" + ("" if len(reasons) else "; none rejected")
what += "" if placeholder.any() else f"; every station has a station code ({len(codes)})"
what += "" if len(went_unknown) else f"; no station went stale (stream.stale_after {stale_after})"
figures.add_caption(fig, observation.caption(start, end, what, res))
_ = tables.save_figure(fig, root / figures_dir / NAME / "data_quality.png", close=False)

# %% [markdown]
# ## The observation process
# Polls per Paris day (failed ones, which saw nothing, stacked above) and per hour of the day
# over the whole recording, the gap between consecutive polls, and per poll the
# stations it listed and those that disappeared since the previous poll of the source.
# Colours are `figures.COLORS`' (polls as the poll ticks of every other figure, stations
# listed as the stations known of 01), one per concept.
# `observation.json` sums it up, with the `stale` alerts (a station unseen for
# `stale_after`, hence unknown).

# %%
ok = polls["ok"].fillna(False).astype(bool)
local = clock.paris_times(polls["observed_at"])
day = local.dt.strftime("%a %d %b")
order = sorted(day.unique(), key=lambda d: local[day == d].min())
per_day = pd.DataFrame({"ok": day[ok].value_counts(), "failed": day[~ok].value_counts()})
per_day = per_day.reindex(order).fillna(0).astype(int)
per_hour = observation.polls_per_hour(polls)
gaps = observation.gaps_minutes(polls)
listed = polls.loc[ok, "listed"].map(len)
gone = polls["disappeared"].map(len)
fig = plt.figure(figsize=(12, 7.5), layout="constrained")
cells = fig.add_gridspec(2, 3, height_ratios=(1, 1))
days_ax, hours_ax, gaps_ax = (fig.add_subplot(cells[0, k]) for k in range(3))
over_time = fig.add_subplot(cells[1, :])
days_ax.bar(range(len(per_day)), per_day["ok"], color=figures.COLORS["polls"], label="ok")
if per_day["failed"].any():
    days_ax.bar(
        range(len(per_day)),
        per_day["failed"],
        bottom=per_day["ok"],
        color=figures.COLORS["failed_polls"],
        label="failed",
    )
    days_ax.legend(fontsize=8)
step = max(1, len(per_day) // 7)
days_ax.set_xticks(
    range(0, len(per_day), step), list(per_day.index[::step]), rotation=45, ha="right", fontsize=8
)
days_ax.set_title("Polls per day (Paris)", fontsize=10)
days_ax.set_ylabel("polls")
hours_ax.bar(range(24), per_hour, color=figures.COLORS["polls"])
hours_ax.set_xticks(range(0, 24, 3))
hours_ax.set_title("Polls per hour of the day, whole recording", fontsize=10)
hours_ax.set_xlabel("hour, local time (Europe/Paris)")
if len(gaps):
    bins = np.geomspace(max(float(gaps.min()), 1.0), max(float(gaps.max()), 2.0) * 1.05, 25)
    # the gaps lighter than the polls' own bars, so the median line shows across them
    gaps_ax.hist(gaps.clip(lower=1), bins=bins, color=figures.COLORS["polls"], alpha=0.45)
    gaps_ax.axvline(
        res.gap_median_minutes,
        color=figures.COLORS["polls"],
        linestyle="--",
        label=f"median {observation.duration(res.gap_median_minutes)}",
    )
    gaps_ax.set_xscale("log")
    gaps_ax.legend(fontsize=8)
else:
    figures.none_panel(gaps_ax, "fewer than two polls")
gaps_ax.set_title("Gap between consecutive polls", fontsize=10)
gaps_ax.set_xlabel("minutes (log)")
gaps_ax.set_ylabel("gaps")
when = clock.local_naive(polls["observed_at"])
over_time.plot(
    when[ok],
    listed,
    marker="o",
    markersize=2.5,
    linewidth=0.8,
    color=figures.COLORS["stations_known"],
    label="stations listed",
)
over_time.set_ylabel("stations listed", color=figures.COLORS["stations_known"])
over_time.set_ylim(0, max(float(listed.max()) if len(listed) else 1.0, 1.0) * 1.1)
right = over_time.twinx()
right.vlines(when, 0, gone, color=figures.COLORS["disappeared"], linewidth=1.2, label="disappeared")
right.set_ylim(0, max(float(gone.max()) if len(gone) else 0.0, 10.0) * 1.15)
right.set_ylabel("disappeared since\nthe previous poll", color=figures.COLORS["disappeared"])
over_time.set_title("Stations per poll, and stations gone from one poll to the next", fontsize=10)
over_time.set_xlabel("local time (Europe/Paris)")
figures.time_axis(over_time)
fig.suptitle("How the network was observed: the poll log")
figures.add_caption(fig, observation.caption(start, end, "Every poll ingest read", res))
_ = tables.save_figure(fig, root / figures_dir / NAME / "observation.png", close=False)

# %%
print("Rejected, by reason:" if len(reasons) else "Nothing was rejected.")
for reason, count in reasons.items():
    print(f"  {reason}: {count}")
print(f"Records whose bike types do not add up to the total: {int((types.dropna() != 0).sum())}")
n = len(status)
metrics = {
    "status_rows": n,
    "capacity_zero_stations": int(status.loc[capacity == 0, "station_code"].nunique()),
    "bikes_docks_ne_capacity_share": float((gap.dropna() != 0).mean()) if n else None,
    "rejected_topic_records": len(rejected),
    "unmapped_id_status_rows": int(placeholder.sum()),
    "unmapped_id_stations": unmapped_stations,
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "data_quality.json")
print(tables.metrics_text(metrics))
observed = {
    **res.summary(),
    "failed_polls": int((~ok).sum()),
    "stations_per_poll_median": float(listed.median()) if len(listed) else None,
    "disappearance_events": int(gone.sum()),
    "stale_alerts": len(went_unknown),
}
tables.write_json(observed, root / metrics_dir / "observation.json")
print(tables.metrics_text(observed))
