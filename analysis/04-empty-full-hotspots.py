# %% [markdown]
# # 04 — Empty and full hotspots
# The stations and Paris arrondissements most often empty (no bike to take) or full
# (no dock to return to), as *shares of the time they were observed*: the stream's
# `empty_share` / `full_share` per window, weighted by the seconds each window knew
# the station (`indicators_station/`) or the area's known station-time
# (`indicators_area/`). A station reporting rarely counts per unit of time, not per
# report.
#
# **Observed windows only.** The shares are taken over the windows in which a poll
# listed the station (`polls_seen > 0`; for an arrondissement, windows a poll observed),
# never over windows carried forward from an earlier poll: a station whose last poll
# before a long gap saw it empty is not "empty" for the whole gap. The share of the
# known time that was observed and the recording's resolution are stated with them.
#
# **Which stations are ranked.** Those known at least `hotspot_min_hours`, with a real
# station code (not one made up from an unmapped GBFS id, `pipeline.record.is_placeholder`),
# that had bikes + docks > 0 at some point (`occupancy_seconds`: a station reporting 0
# bikes and 0 docks is both "empty" and "full" all the time, a data-quality case, 05)
# and were in service at least half of their known time (a closed station reports 0
# bikes without being a place where riders find none).
#
# **How sure.** Each share carries its 95 % interval and its n (the polls that listed
# the station): a Wilson interval with one observation per poll, polls being about an
# hour apart (`pipeline/research/stats.py` says why), and stations are ordered by the
# interval's lower end, so a station empty at the 6 polls that saw it does not outrank
# one empty at most of 300. An arrondissement's share
# carries a bootstrap interval over its stations, and its n of stations.

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
top_n = 15
hotspot_min_hours = 6
over_half = 0.5

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.record import is_placeholder
from pipeline.research import figures, observation, stats, tables

NAME = "04-empty-full-hotspots"
root = tables.project_root()
processed = root / processed_dir
station_rows = tables.read_table(processed, "indicators_station")
area = tables.read_table(processed, "indicators_area")
observed_share = observation.observed_share(station_rows)
per_station = observation.station_values(station_rows)
res = observation.resolution(tables.read_table(processed, "polls"))
usable = station_rows.groupby("station_code")["occupancy_seconds"].sum() > 0
in_service = per_station["out_of_service_share"] <= 0.5
eligible = usable.reindex(per_station.index).fillna(False) & in_service
unmapped = per_station.index.map(is_placeholder).to_numpy(dtype=bool)
ranks = {
    column: stats.rank(
        per_station, column, min_hours=hotspot_min_hours, eligible=eligible, n="polls_seen"
    )
    for column in ("empty_share", "full_share")
}
start, end = tables.data_span(station_rows)
print(
    f"{len(per_station)} stations, {len(ranks['empty_share'])} ranked, "
    f"{int((~in_service).sum())} closed, {int(unmapped.sum())} with no station code (not ranked); "
    f"{observed_share:.0%} of the known station-time observed; {res.text()}"
)


# %%
def label(code: str, row: pd.Series) -> str:
    commune = "commune unknown" if row["commune"] is pd.NA else row["commune"]
    n = f"n = {row['polls_seen']:.0f} polls".replace(" ", "\u00a0")  # never split
    return figures.wrap_label(f"{code} {row['name']} ({commune}), {n}", 36)


fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * top_n + 2.2), layout="constrained")
for ax, column, title, color in (
    (axes[0], "empty_share", f"{top_n} stations most often empty", figures.COLORS["empty"]),
    (axes[1], "full_share", f"{top_n} stations most often full", figures.COLORS["full"]),
):
    ax.set_title(title)
    table = ranks[column].head(top_n)
    if table.empty:
        figures.none_panel(ax, f"no station known {hotspot_min_hours} h or more in this data")
        continue
    y = np.arange(len(table))[::-1]
    share = table[column].to_numpy() * 100
    ax.errorbar(
        share,
        y,
        xerr=[share - table["low"].to_numpy() * 100, table["high"].to_numpy() * 100 - share],
        fmt="o",
        color=color,
        ecolor=color,
        elinewidth=2,
        capsize=3,
        label="share of the observed time, 95 % interval",
    )
    ax.set_yticks(y, [label(code, row) for code, row in table.iterrows()])
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_xlabel("share of the station's observed time (%)")
    ax.set_xlim(0, 100)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.grid(axis="x", alpha=0.3)
note = (
    f"Shares of the observed windows ({observed_share:.0%} of the known station-time). "
    f"Ranked: stations known at least {hotspot_min_hours} h, with a station code, in "
    "service half of that time; ordered by the lower end of the 95 % interval (Wilson, "
    "one observation per poll that listed the station: n)"
)
figures.add_caption(fig, observation.caption(start, end, note, res))
_ = tables.save_figure(fig, root / figures_dir / NAME / "station_hotspots.png", close=False)

# %% [markdown]
# ## Per arrondissement
# Shares of each arrondissement's known station-time (`indicators_area/`), with a 95 %
# bootstrap interval over its stations and its number of stations (n).

# %%
by_arr = tables.area_summary(area[area["polls"].fillna(0) > 0], "arrondissement")
by_arr.index = by_arr.index.astype(int)
by_arr = by_arr.reindex(range(1, 21))
paris = per_station[per_station["arrondissement"].notna() & ~unmapped]
spread = {
    column: stats.bootstrap_share(
        paris[column], paris["hours_observed"], paris["arrondissement"].astype(int)
    ).reindex(range(1, 21))
    for column in ("empty_share", "full_share")
}
n = spread["empty_share"]["stations"].fillna(0).astype(int)
x = np.arange(1, 21)
fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
for offset, column, name, color in (
    (-0.2, "empty_share", "empty (no bike)", figures.COLORS["empty"]),
    (0.2, "full_share", "full (no dock)", figures.COLORS["full"]),
):
    value = by_arr[column].to_numpy() * 100
    low, high = spread[column]["low"].to_numpy() * 100, spread[column]["high"].to_numpy() * 100
    ax.bar(x + offset, value, width=0.4, label=name, color=color)
    ax.errorbar(
        x + offset,
        value,
        yerr=[np.clip(value - low, 0, None), np.clip(high - value, 0, None)],
        fmt="none",
        ecolor="0.15",
        elinewidth=1,
        capsize=2,
    )
ax.errorbar(
    [], [], yerr=[], fmt="none", ecolor="0.15", label="95 % interval (bootstrap over stations)"
)
ax.set_xticks(x, [f"{'1er' if k == 1 else f'{k}e'}\n{n[k]}" for k in x])
ax.set_xlabel("Paris arrondissement, and its n of stations")
ax.set_ylabel("share of observed station-time (%)")
ax.set_ylim(bottom=0)
ax.set_title("How often Paris stations are empty or full, per arrondissement", pad=24)
ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False, fontsize=9)
ax.grid(axis="y", alpha=0.3)
figures.add_caption(
    fig, observation.caption(start, end, "Shares of known station-time in observed windows", res)
)
_ = tables.save_figure(fig, root / figures_dir / NAME / "arrondissement_hotspots.png", close=False)

# %% [markdown]
# ## Numbers
# `hotspots_stations.csv`: every station, most often empty first, with the 95 % intervals
# and the ranks (empty for a station that is not ranked, with the rule above);
# `hours_known` is its whole known time, `hours_observed` the observed part of it (the
# shares' weight), `polls_seen` the polls that listed it (the n of the interval).

# %%
cols = ["name", "commune", "arrondissement", "hours_known", "hours_observed", "polls_seen"]
cols += ["empty_share", "full_share"]
table = per_station[cols].copy()
for column, short in (("empty_share", "empty"), ("full_share", "full")):
    table[f"{short}_low"], table[f"{short}_high"] = stats.share_interval(
        table[column], table["polls_seen"]
    )
    rank = pd.Series(range(1, len(ranks[column]) + 1), index=ranks[column].index)
    table[f"{short}_rank"] = rank.reindex(table.index).astype("Int64")
table["code_known"] = ~unmapped
table = table.sort_values(["empty_share"], ascending=False, kind="stable")
tables.write_csv(table.reset_index(), root / metrics_dir / "hotspots_stations.csv")


def most(column: str) -> int | None:
    values = by_arr[column].dropna()
    return int(values.idxmax()) if len(values) else None


ranked = ranks["empty_share"]
metrics = {
    "stations_ranked": len(ranked),
    "stations_closed": int((~in_service).sum()),
    # over half of the observed time, as station_map.json's mapped_stations_empty_over_half,
    # but over the ranked stations only (the rule above)
    "ranked_stations_empty_over_half": int((ranked["empty_share"] > over_half).sum()),
    "ranked_stations_full_over_half": int((ranks["full_share"]["full_share"] > over_half).sum()),
    "arrondissement_most_empty": most("empty_share"),
    "arrondissement_most_full": most("full_share"),
    "observed_share": observed_share,
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "hotspots.json")
print(tables.metrics_text(metrics))
