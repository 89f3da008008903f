# %% [markdown]
# # 05 — Data quality
# What the real feed gets wrong, measured on the records themselves (`status/`, one
# row per station record the stream kept) and on what the stream refused
# (`_rejected/`, with the reason): stale reports (the station's last report far older
# than the snapshot), capacity 0, bikes + docks that do not add up to the capacity,
# bike types that do not add up to the total, rejected Kafka values, and records of
# stations known only by a GBFS id that no reference table maps to a station code
# (`id:<station_id>`, `pipeline.record.is_placeholder`: never ranked or mapped as a
# known station by 03 and 04). How long stations went unknown (`stale` alerts) comes
# from `alerts/`.
#
# Then **the observation process itself**, from the poll log (`polls/`, one row per
# snapshot ingest read): polls per Paris day and hour of the day, the gaps between
# them, how many stations each poll listed and how many disappeared since the previous
# one. Every other figure is only as fine as this: its caption gives the median gap.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
stale_after_hours = 24

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import clock, vocabulary
from pipeline.record import is_placeholder
from pipeline.research import figures, observation, tables

NAME = "05-data-quality"
root = tables.project_root()
processed = root / processed_dir
status = tables.read_status(processed)
rejected = tables.read_table(processed, "_rejected")
alerts = tables.read_table(processed, "alerts", ["station_code", "alert", "at"])
age_h = (status["observed_at"] - status["last_reported"]).dt.total_seconds() / 3600
capacity = status["capacity"].astype("float64")
gap = status["bikes_available"] + status["docks_available"] - status["capacity"]
types = status["mechanical_available"] + status["ebike_available"] - status["bikes_available"]
stale = status[age_h > stale_after_hours]
reasons = rejected["reason"].astype(str).str.split(":").str[0].value_counts().sort_index()
went_unknown = alerts[alerts["alert"] == vocabulary.STALE]
polls = tables.read_table(processed, "polls")
res = observation.resolution(polls)
placeholder = status["station_code"].astype(str).map(is_placeholder).astype(bool)
codes = status.groupby("station_code")["station_code"].first().astype(str)
unmapped_stations = int(codes.map(is_placeholder).sum())
print(
    f"{len(status)} records, {len(rejected)} rejected, {len(went_unknown)} stale alerts, "
    f"{int(placeholder.sum())} records of {unmapped_stations} stations without a station code"
)

# %%
fig, grid = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
axes = [grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1]]
clipped = gap.dropna().astype(int).clip(-15, 15)
axes[0].hist(clipped, bins=range(-15, 17), color="#4c72b0", align="left")
axes[0].set_title("bikes + docks − capacity (clipped at ±15)")
axes[0].set_xlabel("docks")
axes[0].set_ylabel("records")
# The age axis fits the data (a round number of hours above the oldest report, 72 h at
# most, older ones in the last bin); the stale threshold is drawn only when it falls on it.
oldest = float(age_h.max()) if age_h.notna().any() else 1.0
top = min(72.0, max(1.0, float(np.ceil(oldest / 2) * 2)))
axes[1].hist(age_h.clip(lower=0, upper=top), bins=np.linspace(0, top, 37), color="#dd8452")
axes[1].set_xlim(0, top)
if stale_after_hours <= top:
    axes[1].axvline(stale_after_hours, color="black", linestyle="--", label="stale threshold")
    axes[1].legend()
axes[1].set_yscale("log")
clip_note = f", clipped at {top:.0f} h" if oldest > top else ""
axes[1].set_title(f"Age of the station's last report{clip_note}")
axes[1].set_xlabel(
    "hours between last report and snapshot"
    + (f" (stale after {stale_after_hours} h: none)" if stale_after_hours > top else "")
)
axes[1].set_ylabel("records")
axes[2].set_title("Records rejected by the stream stage")
if len(reasons):
    labels = [figures.wrap_label(r, 28) for r in reasons.index]
    axes[2].barh(labels, reasons.to_numpy(), color="#c44e52")
    axes[2].set_xlabel("records")
else:
    figures.none_panel(axes[2], "none rejected")
axes[3].set_title("Without a station code (unmapped GBFS id)")
counts = {  # bar: (share %, "n of total")
    "records": (placeholder.mean() * 100, f" {int(placeholder.sum())} of {len(status)}"),
    "stations": (
        unmapped_stations / max(len(codes), 1) * 100,
        f" {unmapped_stations} of {len(codes)}",
    ),
}
shares = [share for share, _ in counts.values()]
bars = axes[3].barh(list(counts), shares, color="#8172b3")
axes[3].bar_label(bars, [text for _, text in counts.values()], fontsize=9)
axes[3].set_xlim(0, max(10.0, float(np.ceil(max(shares) / 10) * 10) + 5))
axes[3].set_xlabel("% of all (not ranked or mapped as known stations)")
fig.suptitle("Vélib' data quality")
start, end = status["observed_at"].min(), status["observed_at"].max()
figures.add_caption(fig, observation.caption(start, end, "Every record the stream kept", res))
_ = tables.save_figure(fig, root / figures_dir / NAME / "data_quality.png", close=False)

# %% [markdown]
# ## The observation process
# Polls per Paris day (failed ones, which saw nothing, in red) and per hour of the day
# over the whole recording, the gap between consecutive polls, and per poll the
# stations it listed and those that disappeared since the previous poll of the source.
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
days_ax.bar(range(len(per_day)), per_day["ok"], color="#4c72b0", label="ok")
if per_day["failed"].any():
    days_ax.bar(
        range(len(per_day)),
        per_day["failed"],
        bottom=per_day["ok"],
        color="#c44e52",
        label="failed",
    )
    days_ax.legend(fontsize=8)
step = max(1, len(per_day) // 7)
days_ax.set_xticks(
    range(0, len(per_day), step), list(per_day.index[::step]), rotation=45, ha="right", fontsize=8
)
days_ax.set_title("Polls per day (Paris)", fontsize=10)
days_ax.set_ylabel("polls")
hours_ax.bar(range(24), per_hour, color="0.45")
hours_ax.set_xticks(range(0, 24, 3))
hours_ax.set_title("Polls per hour of the day, whole recording", fontsize=10)
hours_ax.set_xlabel("hour, local time (Europe/Paris)")
if len(gaps):
    bins = np.geomspace(max(float(gaps.min()), 1.0), max(float(gaps.max()), 2.0) * 1.05, 25)
    gaps_ax.hist(gaps.clip(lower=1), bins=bins, color="0.45")
    gaps_ax.axvline(
        res.gap_median_minutes,
        color="black",
        linestyle=":",
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
    color="#4c72b0",
    label="stations listed",
)
over_time.set_ylabel("stations listed", color="#4c72b0")
over_time.set_ylim(0, max(float(listed.max()) if len(listed) else 1.0, 1.0) * 1.1)
right = over_time.twinx()
right.vlines(when, 0, gone, color="#c44e52", linewidth=1.2, label="disappeared")
right.set_ylim(0, max(float(gone.max()) if len(gone) else 0.0, 10.0) * 1.15)
right.set_ylabel("disappeared since\nthe previous poll", color="#c44e52")
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
    "records": n,
    "stale_report_share": len(stale) / n if n else None,
    "capacity_zero_stations": int(status.loc[capacity == 0, "station_code"].nunique()),
    "bikes_docks_ne_capacity_share": float((gap.dropna() != 0).mean()) if n else None,
    "rejected_records": len(rejected),
    "unmapped_id_records": int(placeholder.sum()),
    "unmapped_id_stations": unmapped_stations,
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "data_quality.json")
print(tables.metrics_text(metrics))
observed = {
    **res.summary(),
    "failed_polls": int((~ok).sum()),
    "stations_per_poll_median": float(listed.median()) if len(listed) else None,
    "disappeared_stations": int(gone.sum()),
    "stale_alerts": len(went_unknown),
}
tables.write_json(observed, root / metrics_dir / "observation.json")
print(tables.metrics_text(observed))
