"""Maps drawn on real data: the GBFS snapshot of 2025-10-18 (data/raw/gbfs, 1,495 stations).

Each test looks inside the figure (collections, texts, colours, limits) rather
than at a file's existence.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from pyproj import Geod  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import figcheck  # noqa: E402

from pipeline.record import placeholder_code  # noqa: E402
from pipeline.research import (
    geo,  # noqa: E402
    maps,
    tables,
)
from pipeline.sources.recorded import read_recorded  # noqa: E402

SNAPSHOT = Path(__file__).resolve().parents[3] / "data" / "raw" / "gbfs" / "2025-10-18"
LABELS = {"1er"} | {f"{n}e" for n in range(2, 21)}


@pytest.fixture(scope="module")
def stations() -> pd.DataFrame:
    records = [r for snap in read_recorded(SNAPSHOT) for r in snap.records]
    return tables.with_flags(tables.status_frame(records))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_gid(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


def _luminance(rgba) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_base_map_draws_20_boundaries_with_their_labels_inside():
    fig, ax = maps.base_map()
    (boundaries,) = _by_gid(ax, maps.BOUNDARIES_GID)
    assert len(boundaries.get_paths()) == 20
    labels = [t for t in ax.texts if t.get_gid() == maps.LABELS_GID]
    assert {t.get_text() for t in labels} == LABELS and len(labels) == 20
    polygons = {a.label: a.polygon for a in geo.load_arrondissements()}
    for t in labels:  # each label sits inside its own arrondissement
        x, y = t.get_position()
        point = shapely.Point(x * 1000 + maps.ORIGIN[0], y * 1000 + maps.ORIGIN[1])
        assert polygons[t.get_text()].contains(point), t.get_text()


def test_equal_aspect_and_km_axes_framing_paris():
    fig, ax = maps.base_map()
    assert ax.get_aspect() == 1.0
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # Paris with both woods is 18.0 km east-west and 9.6 km north-south, plus 0.5 km margins
    assert x1 - x0 == pytest.approx(19.0, abs=0.1)
    assert y1 - y0 == pytest.approx(10.6, abs=0.1)
    assert x0 < 0 < x1 and y0 < 0 < y1  # Notre-Dame inside the frame
    assert "km" in ax.get_xlabel() and "km" in ax.get_ylabel()
    fig.canvas.draw()  # on screen, one km across is as long as one km up
    box = ax.get_window_extent()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert (box.width / (x1 - x0)) == pytest.approx(box.height / (y1 - y0), rel=0.01)


def test_map_xy_is_in_true_kilometres(stations):
    """Map distances between real stations match WGS84 geodesics (Lambert-93: 110 ppm at Paris)."""
    assert maps.map_xy(48.8534, 2.3488) == pytest.approx((0.0, 0.0), abs=1e-9)
    sample = stations.iloc[::50]
    x, y = maps.map_xy(sample["lat"], sample["lon"])
    on_map = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
    lat, lon = sample["lat"].to_numpy(), sample["lon"].to_numpy()
    _, _, metres = Geod(ellps="WGS84").inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    assert on_map.max() > 10  # pairs across the network, not next-door stations
    assert on_map == pytest.approx(np.asarray(metres) / 1000, rel=3e-4)


def test_stations_coloured_with_zero_visible_on_white(stations):
    fig, ax = maps.base_map()
    dots = maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
    assert dots.get_gid() == maps.STATIONS_GID
    assert len(dots.get_offsets()) == 1495  # every station of the snapshot has coordinates
    colours = dots.to_rgba(dots.get_array())
    bikes = stations["bikes_available"].to_numpy()
    zero = colours[bikes == 0]
    assert len(zero) == 59  # real empty stations in this snapshot
    assert np.allclose(zero, to_rgba(plt.get_cmap(maps.CMAP)(0.0)))
    assert _luminance(zero[0]) < 0.2  # dark, never near-white
    assert not np.allclose(colours[bikes == bikes.max()][0], zero[0])
    # a colorbar was added beside the map
    assert len(fig.axes) == 2


def test_stations_without_a_value_are_grey_rings(stations):
    fig, ax = maps.base_map()
    maps.plot_stations(ax, stations["lat"], stations["lon"], stations["occupancy"], colorbar=False)
    (rings,) = _by_gid(ax, maps.NO_DATA_GID)
    (dots,) = _by_gid(ax, maps.STATIONS_GID)
    missing = int(stations["occupancy"].isna().sum())
    assert missing == 18  # bikes + docks == 0: occupancy undefined
    assert len(rings.get_offsets()) == missing
    assert len(dots.get_offsets()) == 1495 - missing
    assert len(fig.axes) == 1


def test_autoscale_shows_the_whole_network(stations):
    fig, ax = maps.base_map()
    maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
    ax.autoscale()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x1 - x0 > 27 and y1 - y0 > 22  # the suburbs reach 13 km from Notre-Dame


def test_choropleth_colours_follow_the_values(stations):
    occupancy = stations.dropna(subset=["arrondissement"]).groupby("arrondissement")["occupancy"]
    values = {int(k): float(v) for k, v in occupancy.mean().items()}
    assert len(values) == 20 and len(set(values.values())) == 20
    fig, ax = maps.base_map()
    fills = maps.choropleth(ax, values, label="mean occupancy")
    assert fills.get_gid() == maps.CHOROPLETH_GID
    assert len(fills.get_paths()) == 20
    colours = fills.to_rgba(fills.get_array())
    assert len({tuple(c) for c in colours}) == 20  # 20 different values, 20 colours
    cmap = plt.get_cmap(maps.CMAP)
    ranked = sorted(values, key=values.get)
    assert np.allclose(colours[ranked[0] - 1], cmap(0.0))
    assert np.allclose(colours[ranked[-1] - 1], cmap(1.0))
    assert _luminance(cmap(0.0)) < 0.2
    assert min(z.get_zorder() for z in _by_gid(ax, maps.BOUNDARIES_GID)) > fills.get_zorder()


def test_choropleth_hatches_missing_arrondissements(stations):
    values = {n: float(n) for n in range(1, 21) if n != 4}
    fig, ax = maps.base_map()
    fills = maps.choropleth(ax, values, colorbar=False)
    assert len(fills.get_paths()) == 19
    hatched = [c for c in ax.collections if c.get_hatch()]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == 1
    with pytest.raises(ValueError, match="at least one"):
        maps.choropleth(ax, {})


def test_caption_names_the_period_in_paris_time_and_the_attribution():
    text = maps.caption(
        datetime(2022, 5, 12, 10, 22, tzinfo=UTC), datetime(2022, 5, 14, 23, 37, tzinfo=UTC)
    )
    assert text == (
        "12 May 2022 12:22 to 15 May 2022 01:37 (Paris time). "
        "Data © Vélib' Métropole, © Ville de Paris, ODbL."
    )
    snapshot = datetime(2025, 10, 18, 9, 9, 16, tzinfo=UTC)
    assert maps.caption(snapshot, snapshot, "GBFS").startswith("GBFS, 18 October 2025 11:09 (")
    with pytest.raises(ValueError, match="timezone-aware"):
        maps.caption(datetime(2022, 5, 12), datetime(2022, 5, 13))  # noqa: DTZ001


def test_caption_sits_below_the_map(stations):
    fig, ax = maps.base_map()
    maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
    start, end = stations["observed_at"].min(), stations["observed_at"].max()
    note = maps.add_caption(fig, maps.caption(start.to_pydatetime(), end.to_pydatetime()))
    assert note.get_gid() == maps.CAPTION_GID and maps.ATTRIBUTION in note.get_text()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert note.get_window_extent(renderer).y1 < ax.get_tightbbox(renderer).y0


def test_a_long_caption_wraps_inside_the_figure_without_breaking_a_date(stations):
    fig, ax = maps.base_map()
    maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
    start, end = stations["observed_at"].min(), stations["observed_at"].max()
    what = "Observed windows only; observed by 311 polls, a median 59 min apart " * 4
    note = maps.add_caption(fig, maps.caption(start.to_pydatetime(), end.to_pydatetime(), what))
    assert note.get_text().count("\n") >= 2
    assert figcheck.texts_outside(fig) == [] and figcheck.broken_dates(note.get_text()) == []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert note.get_window_extent(renderer).y1 < ax.get_tightbbox(renderer).y0


def test_figures_are_byte_identical_across_renders(stations, tmp_path):
    def render(path: Path) -> bytes:
        fig, ax = maps.base_map()
        maps.plot_stations(ax, stations["lat"], stations["lon"], stations["empty"], vmin=0, vmax=1)
        maps.add_caption(
            fig,
            maps.caption(
                datetime(2025, 10, 18, 9, 9, tzinfo=UTC), datetime(2025, 10, 18, 9, 9, tzinfo=UTC)
            ),
        )
        return tables.save_figure(fig, path).read_bytes()

    first, second = render(tmp_path / "a.png"), render(tmp_path / "b.png")
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and len(first) > 50_000
    assert first == second


def test_fitted_frames_leave_no_blank_band_under_the_titles(stations):
    fig, axes = plt.subplots(2, 1, figsize=maps.figure_size(2), layout="constrained")
    for ax in axes:
        maps.base_map(ax)
        maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
        ax.set_title("a map")
    fig.suptitle("two maps")
    maps.add_caption(fig, "caption")
    assert figcheck.blank_bands(fig), "an equal-aspect map shrinks inside its box"
    maps.fit_frames(fig)
    assert figcheck.blank_bands(fig) == []
    x0, y0, x1, y1 = maps._paris_bounds()
    for ax in axes:  # the whole city still in view, the frame widened in one direction
        (a, b), (c, d) = ax.get_xlim(), ax.get_ylim()
        assert a <= x0 and b >= x1 and c <= y0 and d >= y1
        assert min((b - a) / 19.0, (d - c) / 10.6) < 1.1  # not zoomed out


def test_labels_sit_above_the_stations_on_a_white_box(stations):
    fig, ax = maps.base_map()
    dots = maps.plot_stations(ax, stations["lat"], stations["lon"], stations["bikes_available"])
    labels = [t for t in ax.texts if t.get_gid() == maps.LABELS_GID]
    for label in labels:
        assert label.get_zorder() > dots.get_zorder()
        box = label.get_bbox_patch()
        assert box is not None and box.get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_placeholder_stations_are_crosses_never_coloured_dots(stations):
    codes = stations["station_code"].astype(str).to_numpy().copy()
    codes[:3] = [placeholder_code(n) for n in (1, 2, 3)]
    fig, ax = maps.base_map()
    dots = maps.plot_stations(
        ax, stations["lat"], stations["lon"], stations["bikes_available"], codes=codes
    )
    (crosses,) = _by_gid(ax, maps.PLACEHOLDER_GID)
    assert len(crosses.get_offsets()) == 3 and len(dots.get_offsets()) == 1495 - 3


def test_a_fixed_cap_is_stated_by_the_colour_bar(stations):
    fig, ax = maps.base_map()
    share = stations["empty"].to_numpy() * 100  # 0 or 100: above the cap
    cap = maps.EMPTY_SHARE_CAP * 100
    dots = maps.plot_stations(ax, stations["lat"], stations["lon"], share, vmin=0, vmax=cap)
    assert (dots.norm.vmin, dots.norm.vmax) == (0, cap)
    (bar,) = [a for a in fig.axes if a is not ax]
    assert bar._colorbar.extend == "max"  # the arrow: values above take the top colour


def test_choropleth_writes_each_value_in_its_arrondissement():
    values = {n: n / 100 for n in range(1, 21) if n != 4}
    fig, ax = maps.base_map()
    maps.choropleth(ax, values, vmin=0, vmax=0.2, colorbar=False, value_format="{:.0%}")
    texts = {t.get_text() for t in ax.texts if t.get_gid() == maps.VALUES_GID}
    assert texts == {f"{n}%" for n in range(1, 21) if n != 4} | {"no data"}
