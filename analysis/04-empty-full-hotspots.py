# %% [markdown]
# # 04 — Empty and full hotspots
# The stations and Paris arrondissements most often empty (no bike to take) or full
# (no dock to return to), as *shares of the time they were known*: the stream's
# `empty_share` / `full_share` per window, weighted by the seconds each window knew
# the station (`indicators_station/`) or the area's known station-time
# (`indicators_area/`). A station reporting rarely counts per unit of time, not per
# report.
#
# Ranked stations must have been known at least `hotspot_min_hours`, have had
# bikes + docks > 0 at some point (`occupancy_seconds`: a station reporting 0 bikes and
# 0 docks is both "empty" and "full" all the time, a data-quality case, 05) and have
# been in service at least half of their known time (a closed station reports 0 bikes
# without being a place where riders find none).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
top_n = 15
hotspot_min_hours = 6

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.research import figures, maps, tables

NAME = "04-empty-full-hotspots"
root = tables.project_root()
processed = root / processed_dir
station_rows = tables.read_table(processed, "indicators_station")
area = tables.read_table(processed, "indicators_area")
per_station = tables.station_summary(station_rows)
usable = station_rows.groupby("station_code")["occupancy_seconds"].sum() > 0
in_service = per_station["out_of_service_share"] <= 0.5
ranked = per_station[(per_station["hours_known"] >= hotspot_min_hours) & usable & in_service]
start, end = tables.data_span(station_rows)
print(f"{len(per_station)} stations, {len(ranked)} ranked, {int((~in_service).sum())} closed")


# %%
def top(column: str):
    order = ranked.reset_index().sort_values([column, "station_code"], ascending=[False, True])
    return order.head(top_n)


top_empty, top_full = top("empty_share"), top("full_share")
fig, axes = plt.subplots(1, 2, figsize=(15, 0.45 * top_n + 2.2), layout="constrained")
for ax, table, column, title, color in (
    (axes[0], top_empty, "empty_share", f"{top_n} stations most often empty", "#c44e52"),
    (axes[1], top_full, "full_share", f"{top_n} stations most often full", "#4c72b0"),
):
    ax.set_title(title)
    if table.empty:
        figures.none_panel(ax, f"no station known {hotspot_min_hours} h or more in this data")
        continue
    labels = [
        figures.wrap_label(f"{code} {name} ({'commune unknown' if commune is pd.NA else commune})")
        for code, name, commune in zip(
            table["station_code"], table["name"], table["commune"], strict=True
        )
    ]
    ax.barh(labels[::-1], table[column].to_numpy()[::-1] * 100, color=color)
    ax.set_xlabel("share of the station's known time (%)")
    ax.set_xlim(0, 100)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.grid(axis="x", alpha=0.3)
note = f"Stations known at least {hotspot_min_hours} h and in service half of that time"
figures.add_caption(fig, maps.caption(start, end, note))
_ = tables.save_figure(fig, root / figures_dir / NAME / "station_hotspots.png", close=False)

# %% [markdown]
# ## Per arrondissement
# Shares of each arrondissement's known station-time (`indicators_area/`).

# %%
by_arr = tables.area_summary(area, "arrondissement")
by_arr.index = by_arr.index.astype(int)
by_arr = by_arr.reindex(range(1, 21))
x = np.arange(1, 21)
fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
ax.bar(x - 0.2, by_arr["empty_share"] * 100, width=0.4, label="empty (no bike)", color="#c44e52")
ax.bar(x + 0.2, by_arr["full_share"] * 100, width=0.4, label="full (no dock)", color="#4c72b0")
ax.set_xticks(x, [f"{n}e" if n > 1 else "1er" for n in x])
ax.set_xlabel("Paris arrondissement")
ax.set_ylabel("share of known station-time (%)")
ax.set_title("How often Paris stations are empty or full, per arrondissement", pad=24)
ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False, fontsize=9)
ax.grid(axis="y", alpha=0.3)
figures.add_caption(fig, maps.caption(start, end, "Shares of known station-time"))
_ = tables.save_figure(fig, root / figures_dir / NAME / "arrondissement_hotspots.png", close=False)

# %% [markdown]
# ## Numbers
# `hotspots_stations.csv`: every station, most often empty first.

# %%
cols = ["name", "commune", "arrondissement", "hours_known", "empty_share", "full_share"]
table = per_station.sort_values(["empty_share"], ascending=False, kind="stable")[cols]
tables.write_csv(table.reset_index(), root / metrics_dir / "hotspots_stations.csv")


def most(column: str) -> int | None:
    values = by_arr[column].dropna()
    return int(values.idxmax()) if len(values) else None


metrics = {
    "stations_ranked": len(ranked),
    "stations_closed": int((~in_service).sum()),
    "stations_empty_over_half": int((ranked["empty_share"] > 0.5).sum()),
    "stations_full_over_half": int((ranked["full_share"] > 0.5).sum()),
    "arrondissement_most_empty": most("empty_share"),
    "arrondissement_most_full": most("full_share"),
}
tables.write_json(metrics, root / metrics_dir / "hotspots.json")
print(tables.metrics_text(metrics))
