"""Maps of Paris for the research notebooks: boundaries, stations, choropleths, captions.

Everything is drawn in Lambert-93 (:mod:`pipeline.research.geo`), shifted so that the
axes read in kilometres east and north of the Point zéro des routes de France
(parvis de Notre-Dame): distances on the map are true, the aspect is equal,
and a reader can measure "3 km from the centre" off the axes.

The default colormap is viridis: perceptually uniform, readable by colour-blind
readers and in greyscale, and its 0 is a dark purple, so a station or an
arrondissement at 0 never disappears into the white page.

Typical use::

    fig, ax = maps.base_map()
    maps.plot_stations(ax, df["lat"], df["lon"], df["empty"], label="share of time empty")
    maps.add_caption(fig, maps.caption(start, end, "Vélib' stations"))
    maps.fit_frames(fig)  # last: each map fills its box, no blank band under its title
    research.save_figure(fig, path)

Scales are fixed, stated and start at 0, so a value has the same colour on every
run and revision (:data:`EMPTY_SHARE_CAP`, :data:`AREA_SHARE_MAX`); above a cap
the top colour, and the colour bar ends in an arrow. Stations known only by an
unmapped GBFS id (:func:`pipeline.record.is_placeholder`) are grey crosses,
never coloured as known stations. Arrondissement labels sit above the stations
on a white box. Figures carry no date or random element, so
``research.save_figure`` writes the same bytes on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from weakref import WeakKeyDictionary

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text
from numpy.typing import ArrayLike, NDArray
from shapely.ops import polylabel

from pipeline.clock import paris_time
from pipeline.record import is_placeholder
from pipeline.research import geo
from pipeline.research.figures import wrap_caption

ATTRIBUTION = "© Vélib' Métropole, © Ville de Paris, ODbL"
CMAP = "viridis"
_MONTHS = tuple(
    "January February March April May June July August September October November December".split()
)
_HALO = [patheffects.withStroke(linewidth=3, foreground="white")]
# A station's share of its known time empty: one cap for every run, the top colour above it.
EMPTY_SHARE_CAP = 0.3
# An arrondissement's share of station-time empty or full: one scale for both panels.
AREA_SHARE_MAX = 0.2
_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
LABEL_ZORDER = 6  # arrondissement labels above everything drawn on a map
STATION_ZORDER = 3

# gids, so tests and notebooks can find what a helper drew
BOUNDARIES_GID = "arrondissement-boundaries"
LABELS_GID = "arrondissement-label"
CHOROPLETH_GID = "choropleth"
STATIONS_GID = "stations"
NO_DATA_GID = "stations-no-data"
PLACEHOLDER_GID = "stations-placeholder"
VALUES_GID = "choropleth-value"
_FRAMES: WeakKeyDictionary[Axes, tuple[float, float, float, float]] = WeakKeyDictionary()
CAPTION_GID = "caption"


def _origin() -> tuple[float, float]:
    """Point zéro des routes de France (48°51′12″N 2°20′56″E, before Notre-Dame) in Lambert-93."""
    x, y = geo.to_lambert93(48.8534, 2.3488)
    return float(x), float(y)


ORIGIN = _origin()


def map_xy(lat: ArrayLike, lon: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map coordinates: km east and north of the Point zéro (Lambert-93, so true distances)."""
    x, y = geo.to_lambert93(lat, lon)
    return (x - ORIGIN[0]) / 1000.0, (y - ORIGIN[1]) / 1000.0


def _rings_km() -> list[NDArray[np.float64]]:
    return [
        (np.asarray(a.polygon.exterior.coords) - np.array(ORIGIN)) / 1000.0
        for a in geo.load_arrondissements()
    ]


def draw_arrondissements(
    ax: Axes, *, labels: bool = True, color: str = "0.25", linewidth: float = 0.7
) -> PolyCollection:
    """Draw the 20 boundaries (and their labels 1er ... 20e) on a map's axes.

    Labels sit at each polygon's pole of inaccessibility (the inside point
    farthest from its edges), so they never fall outside a concave shape.
    """
    boundaries = PolyCollection(
        _rings_km(), facecolors="none", edgecolors=color, linewidths=linewidth, zorder=2
    )
    boundaries.set_gid(BOUNDARIES_GID)
    ax.add_collection(boundaries, autolim=True)
    if labels:
        for arr in geo.load_arrondissements():
            spot = polylabel(arr.polygon, tolerance=10.0)
            text = ax.text(
                (spot.x - ORIGIN[0]) / 1000.0,
                (spot.y - ORIGIN[1]) / 1000.0,
                arr.label,
                ha="center",
                va="center",
                fontsize=7.5,
                color="0.1",
                zorder=LABEL_ZORDER,
                path_effects=_HALO,
                bbox=_LABEL_BOX,
            )
            text.set_gid(LABELS_GID)
    return boundaries


def base_map(
    ax: Axes | None = None,
    *,
    labels: bool = True,
    margin_km: float = 0.5,
    figsize: tuple[float, float] = (10.0, 5.8),
) -> tuple[Figure, Axes]:
    """A map of Paris: boundaries with labels, equal aspect, axes in km, framed on the city.

    The frame is the city (both woods included, about 18 x 9.6 km) plus
    ``margin_km``, widened by :func:`fit_frames` to fill the axes box
    (:func:`figure_size` gives a figure that needs little widening). To show
    the whole network with its suburbs, call ``ax.autoscale()`` after
    plotting the stations.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = figure_of(ax)
    draw_arrondissements(ax, labels=labels)
    x0, y0, x1, y1 = np.array(_paris_bounds()) - np.array([1, 1, -1, -1]) * margin_km
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    # Ticks within the city only: widening the frame then never adds a wider tick label,
    # which would change the layout's boxes under fit_frames.
    ax.set_xticks(np.arange(np.ceil(x0 / 2.5), np.floor(x1 / 2.5) + 1) * 2.5)
    ax.set_yticks(np.arange(np.ceil(y0 / 2), np.floor(y1 / 2) + 1) * 2)
    ax.set_aspect("equal")
    _FRAMES[ax] = (x0, y0, x1, y1)
    ax.set_xlabel("km east of Notre-Dame (Lambert-93)")
    ax.set_ylabel("km north of Notre-Dame")
    ax.tick_params(labelsize=8)
    return fig, ax


def figure_size(rows: int, width: float = 11.0, extra: float = 1.0) -> tuple[float, float]:
    """A figure of ``rows`` maps stacked, each the width of the figure, with room for texts.

    Each map's height follows the city's shape (about 0.56 of its width, once
    the axis labels and a colour bar take ~2 inches), plus ``extra`` inches
    per map for its title and axis labels.
    """
    x0, y0, x1, y1 = _paris_bounds()
    ratio = (y1 - y0 + 1.0) / (x1 - x0 + 1.0)
    return width, round(rows * ((width - 2.0) * ratio + extra) + 0.6, 1)


def fit_frames(fig: Figure) -> None:
    """Let each map (from :func:`base_map`) widen its frame to fill the box the layout gives it.

    Call it once everything is plotted: the frame becomes the map's data
    limits (stations beyond it no longer stretch them) and, at every draw,
    the equal aspect is kept by widening those limits in one direction
    (``adjustable="datalim"``) instead of shrinking the axes. The whole city
    stays in view and no blank band is left between a title and its map.
    """
    for ax in fig.axes:
        if ax not in _FRAMES:
            continue
        x0, y0, x1, y1 = _FRAMES[ax]
        cx, cy, pad = (x0 + x1) / 2, (y0 + y1) / 2, 1 / 1.05  # apply_aspect adds 5 %
        corners = [
            [cx + (x0 - cx) * pad, cy + (y0 - cy) * pad],
            [cx + (x1 - cx) * pad, cy + (y1 - cy) * pad],
        ]
        ax.dataLim.set_points(np.array(corners))
        ax.set_xmargin(0.0)
        ax.set_ymargin(0.0)
        ax.set_adjustable("datalim")
        ax.set_autoscale_on(True)  # limits follow the frame, so the aspect may widen them
        ax.autoscale_view()


def in_frame(ax: Axes, x_km: ArrayLike, y_km: ArrayLike) -> NDArray[np.bool_]:
    """Which points a map shows, within its limits as drawn (after :func:`fit_frames`)."""
    figure_of(ax).draw_without_rendering()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    x, y = np.asarray(x_km, dtype="float64"), np.asarray(y_km, dtype="float64")
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _paris_bounds() -> tuple[float, float, float, float]:
    rings = np.vstack(_rings_km())
    x0, y0 = rings.min(axis=0)
    x1, y1 = rings.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _floats(values: ArrayLike) -> NDArray[np.float64]:
    """Any numbers (pandas nullable Int64/Float64 included) as floats, missing -> NaN."""
    array = pd.array(np.ravel(np.asarray(values, dtype=object)), dtype="Float64")
    return array.to_numpy(dtype="float64", na_value=np.nan)


def plot_stations(  # noqa: PLR0913 - matplotlib's own shape: the data, then keyword-only style options, each with its default
    ax: Axes,
    lat: ArrayLike,
    lon: ArrayLike,
    values: ArrayLike,
    *,
    codes: ArrayLike | None = None,
    cmap: str | Colormap = CMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    size: float = 12.0,
    colorbar: bool = True,
) -> PathCollection:
    """Stations as dots coloured by an indicator; stations without a value as grey rings.

    ``vmin``/``vmax`` default to the values' range; pass them (e.g. 0 and a
    constant cap) so maps keep one scale across runs: values above ``vmax``
    take the top colour and the colour bar ends in an arrow. With ``codes``,
    a station known only by an unmapped GBFS id is a grey cross, not a
    coloured dot. A colour bar titled ``label`` is added unless ``colorbar=False``.
    """
    x, y = map_xy(_floats(lat), _floats(lon))
    v = _floats(values)
    placed = np.isfinite(x) & np.isfinite(y)
    unmapped = np.zeros(v.shape, dtype=bool)
    if codes is not None:
        unmapped = np.array([is_placeholder(str(c)) for c in np.ravel(np.asarray(codes))])
    known = np.isfinite(v) & placed & ~unmapped
    missing = ~np.isfinite(v) & placed & ~unmapped
    if missing.any():
        ring = ax.scatter(
            x[missing], y[missing], s=size, facecolors="none", edgecolors="0.55", linewidths=0.6
        )
        ring.set_gid(NO_DATA_GID)
        ring.set_zorder(STATION_ZORDER)
    if (unmapped & placed).any():
        cross = ax.scatter(
            x[unmapped & placed], y[unmapped & placed], s=size * 1.5, marker="x", c="0.45"
        )
        cross.set_gid(PLACEHOLDER_GID)
        cross.set_zorder(STATION_ZORDER)
    dots = ax.scatter(
        x[known], y[known], c=v[known], s=size, cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0
    )
    dots.set_gid(STATIONS_GID)
    dots.set_zorder(STATION_ZORDER)
    if colorbar:
        above = vmax is not None and bool((v[known] > vmax).any())
        figure_of(ax).colorbar(
            dots, ax=ax, shrink=0.9, label=label, extend="max" if above else "neither"
        )
    return dots


def choropleth(
    ax: Axes,
    values: Mapping[int, float],
    *,
    cmap: str | Colormap = CMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    colorbar: bool = True,
    value_format: str | None = None,
) -> PolyCollection:
    """Fill each arrondissement with the colour of its value (``{1: 0.12, 2: 0.3, ...}``).

    Arrondissements missing from ``values`` (or NaN) are hatched, so "no data"
    is never mistaken for a low value. With ``value_format`` (``"{:.1f} %"``)
    each value is written under its arrondissement's label. Draw on a
    :func:`base_map`: the fills go under its boundaries and labels.
    """
    rings = _rings_km()
    v = np.array([float(values.get(n, np.nan)) for n in range(1, 21)])
    known = np.isfinite(v)
    if not known.any():
        raise ValueError("choropleth needs at least one arrondissement with a value")
    norm = Normalize(
        vmin=float(np.nanmin(v)) if vmin is None else vmin,
        vmax=float(np.nanmax(v)) if vmax is None else vmax,
    )
    fills = PolyCollection(
        [r for r, k in zip(rings, known, strict=True) if k],
        array=v[known],
        cmap=cmap,
        norm=norm,
        edgecolors="none",
        zorder=1,
    )
    fills.set_gid(CHOROPLETH_GID)
    ax.add_collection(fills)
    if not known.all():
        gaps = PolyCollection(
            [r for r, k in zip(rings, known, strict=True) if not k],
            facecolors="none",
            edgecolors="0.6",
            hatch="///",
            linewidths=0,
            zorder=1,
        )
        ax.add_collection(gaps)
    if value_format:
        for arr, value in zip(geo.load_arrondissements(), v, strict=True):
            spot = polylabel(arr.polygon, tolerance=10.0)
            text = ax.annotate(
                value_format.format(value) if np.isfinite(value) else "no data",
                ((spot.x - ORIGIN[0]) / 1000.0, (spot.y - ORIGIN[1]) / 1000.0),
                xytext=(0, -10),
                textcoords="offset points",
                ha="center",
                va="center",
                fontsize=7,
                color="0.1",
                zorder=LABEL_ZORDER,
                bbox=_LABEL_BOX,
            )
            text.set_gid(VALUES_GID)
    if colorbar:
        above = vmax is not None and bool((v[known] > vmax).any())
        figure_of(ax).colorbar(
            fills, ax=ax, shrink=0.9, label=label, extend="max" if above else "neither"
        )
    return fills


def figure_of(ax: Axes) -> Figure:
    """The figure an Axes is drawn on (matplotlib types it as possibly none or a subfigure)."""
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure), "an Axes of these maps belongs to a figure"
    return fig


def _paris_day(moment: datetime) -> str:
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def caption(start: datetime, end: datetime, what: str | None = None) -> str:
    """The period covered, in Paris time, and the data attribution, as one line.

    "12 May 2022 12:22 to 14 May 2022 01:37 (Paris time)", shortened when both
    ends fall on one day or are one instant (a snapshot). Dates are spelled out
    in English without the locale (same text on every machine); naive
    datetimes are refused, since UTC is the rule inside.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"caption needs timezone-aware datetimes, got {start!r}, {end!r}")
    a, b = paris_time(start), paris_time(end)
    period = f"{_paris_day(a)} {a:%H:%M}"
    if b.date() != a.date():
        period += f" to {_paris_day(b)} {b:%H:%M}"
    elif f"{b:%H:%M}" != f"{a:%H:%M}":
        period += f" to {b:%H:%M}"
    text = f"{period} (Paris time). Data {ATTRIBUTION}."
    return f"{what}, {text}" if what else text


def add_caption(fig: Figure, text: str) -> Text:
    """Write ``text`` small at the bottom left of the figure, clear of the axes.

    It is wrapped to the figure's width (never inside a date), and the room
    kept for it is about 0.3 inch plus 0.13 per further line, whatever the
    figure's height, so a tall figure gets no blank band above its caption.
    """
    text = wrap_caption(text, fig.get_figwidth())
    room = min((0.17 + 0.13 * (text.count("\n") + 1)) / fig.get_figheight(), 0.15)
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0.0, room, 1.0, 1.0 - room))
    else:
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, 0.14))
    note = fig.text(0.01, 0.012, text, fontsize=7.5, color="0.25", ha="left", va="bottom")
    note.set_gid(CAPTION_GID)
    return note
