# %% [markdown]
# # 03 — Station map
# Every station of Paris coloured by its time-weighted occupancy and by the share of
# its known time it had no bike, over the whole period: the stream's
# `indicators_station/` rows, each window weighted by the seconds it knew the station.
# Then the arrondissements filled with how often their stations were empty or full
# (`indicators_area/`, shares of known station-time).
#
# **Observed windows only.** A station's values are statistics of its behaviour, so they
# are taken over the windows in which a poll listed it (`polls_seen > 0`), never over
# windows whose values are carried forward from an earlier poll; an arrondissement's
# over the windows a poll observed (`polls > 0`). The share of the known time that was
# observed, and the recording's resolution, are stated with them.
#
# Maps are in Lambert-93, in km from Notre-Dame (`pipeline/research/maps.py`), with the 20
# arrondissement boundaries (© Ville de Paris, ODbL). Colours are viridis: 0 % is dark
# purple, never white on the white page. Every colour scale starts at 0 and is fixed
# (constants in `maps.py`, stated on each colour bar), so the same value has the same
# colour on every run and revision. Station positions are their last reported
# coordinates (`status/`).

# %% tags=["parameters"]
processed_dir = "data/processed"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
over_half = 0.5

# %%
import matplotlib.pyplot as plt

from pipeline.record import is_placeholder
from pipeline.research import maps, observation, tables

NAME = "03-station-map"
root = tables.project_root()
processed = root / processed_dir
fig_dir = root / figures_dir / NAME
station_rows = tables.read_table(processed, "indicators_station")
area = tables.read_table(processed, "indicators_area")
observed_share = observation.observed_share(station_rows)
per_station = observation.station_values(station_rows)
res = observation.resolution(tables.read_table(processed, "polls"))
coords = ["station_code", "lat", "lon", "observed_at"]
places = tables.read_table(processed, "status", coords).groupby("station_code")[["lat", "lon"]]
stations = per_station.join(places.last(), how="left")
start, end = tables.data_span(station_rows)
x, y = maps.map_xy(stations["lat"].to_numpy(), stations["lon"].to_numpy())
stations["x_km"], stations["y_km"] = x, y
unmapped = stations.index.map(is_placeholder).to_numpy(dtype=bool)
print(
    f"{len(stations)} stations, {int(stations['lat'].isna().sum())} without coordinates, "
    f"{int(unmapped.sum())} known only by an unmapped GBFS id; "
    f"{observed_share:.0%} of the known station-time observed; {res.text()}"
)

# %% [markdown]
# ## Stations
# The frame is Paris, widened to fill the figure; suburban stations beyond it are in the
# CSV. Occupancy is drawn on 0-100 %; the share of time empty on 0 to
# `maps.EMPTY_SHARE_CAP` (30 %) on every run, the few stations above it in the top
# colour (the arrow of the colour bar). A station known only by a GBFS id that no
# reference table maps to a station code is a grey cross: its values are not those of a
# station a reader can find.

# %%
cap = maps.EMPTY_SHARE_CAP * 100
fig, axes = plt.subplots(2, 1, figsize=maps.figure_size(2), layout="constrained")
for ax, column, title, vmax, label in (
    (axes[0], "occupancy_mean", "Mean occupancy (bikes / (bikes + docks))", 100, "occupancy (%)"),
    (
        axes[1],
        "empty_share",
        "Share of the known time with no bike",
        cap,
        f"time empty (%): scale fixed at 0-{cap:.0f} %, above in the top colour",
    ),
):
    maps.base_map(ax)
    maps.plot_stations(
        ax,
        stations["lat"],
        stations["lon"],
        stations[column] * 100,
        codes=stations.index,
        vmin=0,
        vmax=vmax,
        label=label,
        size=10,
    )
    ax.set_title(title)
axes[0].set_xlabel("")
title = fig.suptitle("Vélib' stations in and around Paris")
note = (
    "Time-weighted over the windows a poll listed each station in (observed: "
    f"{observed_share:.0%} of the known station-time)"
)
if unmapped.any():
    note += f"; grey x: {int(unmapped.sum())} stations known only by a GBFS id, not coloured"
maps.add_caption(fig, observation.caption(start, end, note, res))
maps.fit_frames(fig)
inside = maps.in_frame(axes[0], stations["x_km"], stations["y_km"])
title.set_text(f"{title.get_text()} ({int(inside.sum())} of {len(stations)} in the frame)")
_ = tables.save_figure(fig, fig_dir / "station_map.png", close=False)

# %% [markdown]
# ## Arrondissements
# Shares of each arrondissement's known station-time spent empty and full, on one colour
# scale for both maps (0 to `maps.AREA_SHARE_MAX`, 20 %, fixed), each value written in
# its arrondissement.

# %%
by_arr = tables.area_summary(area[area["polls"].fillna(0) > 0], "arrondissement")
by_arr.index = by_arr.index.astype(int)
top = maps.AREA_SHARE_MAX * 100
fig, axes = plt.subplots(2, 1, figsize=maps.figure_size(2), layout="constrained")
for ax, column, title in (
    (axes[0], "empty_share", "Share of station-time empty (no bike)"),
    (axes[1], "full_share", "Share of station-time full (no dock)"),
):
    maps.base_map(ax)
    values = (by_arr[column] * 100).dropna()
    fills = maps.choropleth(
        ax, values.to_dict(), vmin=0, vmax=top, colorbar=False, value_format="{:.1f} %"
    )
    ax.set_title(title)
axes[0].set_xlabel("")
above = bool((by_arr[["empty_share", "full_share"]] * 100 > top).any().any())
fig.colorbar(
    fills,
    ax=list(axes),
    shrink=0.5,
    extend="max" if above else "neither",
    label=f"% of station-time: one scale for both maps, fixed 0-{top:.0f} %",
)
fig.suptitle("How often Paris stations are empty or full, per arrondissement")
maps.add_caption(
    fig,
    observation.caption(
        start, end, "Shares of each arrondissement's known station-time in observed windows", res
    ),
)
maps.fit_frames(fig)
_ = tables.save_figure(fig, fig_dir / "arrondissement_choropleth.png", close=False)

# %% [markdown]
# `station_map.csv`: each station's values over its observed windows, its whole known
# time (`hours_known`), the observed part of it (`hours_observed`) and the polls that
# listed it (`polls_seen`).

# %%
out = stations.reset_index()[
    [
        "station_code",
        "name",
        "lat",
        "lon",
        "hours_known",
        "hours_observed",
        "polls_seen",
        "occupancy_mean",
        "empty_share",
        "full_share",
    ]
].assign(code_known=~unmapped)
tables.write_csv(out, root / metrics_dir / "station_map.csv", digits=6)
metrics = {
    "stations_in_paris_frame": int(inside.sum()),
    "stations_without_coordinates": int(stations["lat"].isna().sum()),
    "occupancy_median": stations.loc[~unmapped, "occupancy_mean"].median(),
    # over half of the observed time, as hotspots.json's ranked_stations_empty_over_half,
    # but over every station with a station code (closed ones too), not the ranked ones
    "mapped_stations_empty_over_half": int(
        (stations.loc[~unmapped, "empty_share"] > over_half).sum()
    ),
    "arrondissement_most_empty": (
        int(by_arr["empty_share"].idxmax()) if by_arr["empty_share"].notna().any() else None
    ),
    "observed_share": observed_share,
    **res.metrics(),
}
tables.write_json(metrics, root / metrics_dir / "station_map.json")
print(tables.metrics_text(metrics))
