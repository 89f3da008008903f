"""What a reader sees in a matplotlib figure, for tests that check figures beyond "a file exists".

Each helper draws the figure (Agg) and looks at the artists the way the PNG
shows them: texts cut by the canvas edge, axes frames with nothing in them,
a legend lying over the data, a caption without its attribution.
"""

from __future__ import annotations

import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox


def renderer(fig: Figure):  # noqa: ANN201
    """Draw the figure as the PNG is drawn (Agg; a figure pyplot closed gets its canvas back)."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _undrawn_tick_labels(fig: Figure) -> set[int]:
    """Tick labels matplotlib keeps but does not draw (their tick is outside the view)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) or 1.0
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not (low - 1e-9 * span <= loc <= high + 1e-9 * span):
                    hidden.update((id(tick.label1), id(tick.label2)))
    return hidden


def visible_texts(fig: Figure) -> list[Text]:
    """Every non-empty text drawn: titles, labels, tick labels, legends, notes, caption."""
    renderer(fig)
    hidden = _undrawn_tick_labels(fig)
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden
    ]


def texts_outside(fig: Figure, tolerance: float = 1.0) -> list[str]:
    """Texts that stick out of the canvas (cut in the PNG): what a reader cannot read."""
    r = renderer(fig)
    canvas = Bbox.from_bounds(0, 0, *fig.canvas.get_width_height()).expanded(1, 1)
    out = []
    for text in visible_texts(fig):
        box = text.get_window_extent(r)
        if box.width == 0:
            continue
        if (
            box.x0 < canvas.x0 - tolerance
            or box.y0 < canvas.y0 - tolerance
            or box.x1 > canvas.x1 + tolerance
            or box.y1 > canvas.y1 + tolerance
        ):
            out.append(text.get_text())
    return out


def _in_data(artist, ax: Axes) -> bool:
    """Drawn in data coordinates: reference lines and spans (axhline, axvspan) are not data."""
    return artist.get_transform().contains_branch(ax.transData)


def draws_data(ax: Axes) -> bool:
    """True when the axes draw at least one data artist with something in it."""
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype="float64")
        if line.get_visible() and _in_data(line, ax) and np.isfinite(y).any():
            return True
    for coll in ax.collections:
        if coll.get_visible() and (len(coll.get_offsets()) or len(coll.get_paths())):
            return True
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and _in_data(patch, ax):
            if patch.get_width() and patch.get_height():
                return True
    return any(np.isfinite(np.ma.filled(im.get_array(), np.nan)).any() for im in ax.images)


def empty_axes(fig: Figure) -> list[str]:
    """Titles of axes drawing a frame with no data (twin axes count with their twin)."""
    empty = []
    for ax in fig.axes:
        if not ax.axison or ax.get_label() == "<colorbar>":
            continue
        twins = [o for o in fig.axes if o is not ax and o.bbox.bounds == ax.bbox.bounds]
        if not draws_data(ax) and not any(draws_data(o) for o in twins):
            empty.append(ax.get_title() or ax.get_ylabel() or "untitled axes")
    return empty


def by_gid(fig: Figure, gid: str) -> list:
    """Every artist of the figure with this gid (set by pipeline.research.figures helpers)."""
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


def lines(ax: Axes) -> list[Line2D]:
    """The data lines of an axes (legend-only placeholders without points left out)."""
    return [ln for ln in ax.get_lines() if len(np.asarray(ln.get_xdata()))]


def bars(ax: Axes) -> list[Rectangle]:
    """Bars: rectangles in data coordinates (spans and legend handles are not)."""
    return [p for p in ax.patches if isinstance(p, Rectangle) and _in_data(p, ax)]


def overlap(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def legend_covers(ax: Axes, artists: list) -> list:
    """The artists (bars, points) that the axes' legend lies over."""
    legend = ax.get_legend()
    if legend is None:
        return []
    r = renderer(ax.get_figure())
    box = legend.get_window_extent(r)
    return [a for a in artists if overlap(box, a.get_window_extent(r))]


def images(fig: Figure) -> list[AxesImage]:
    return [im for ax in fig.axes for im in ax.images]


def scatter(ax: Axes) -> list[Collection]:
    """Point collections of a data axes (a colorbar's own artists are not points)."""
    if ax.get_label() == "<colorbar>":
        return []
    return [c for c in ax.collections if len(c.get_offsets())]


def blank_bands(fig: Figure, tolerance: float = 0.01) -> list[str]:
    """Axes drawn smaller than the box the layout gave them: blank bands around a map.

    An equal-aspect axes shrinks inside its box unless it may widen its
    limits instead (``adjustable="datalim"``); the band left over lies
    between its title and the map, or under it.
    """
    renderer(fig)
    shrunk = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or not ax.axison:
            continue
        given, drawn = ax.get_position(original=True), ax.get_position(original=False)
        if drawn.width < given.width * (1 - tolerance) or drawn.height < given.height * (
            1 - tolerance
        ):
            shrunk.append(ax.get_title() or "untitled axes")
    return shrunk


def crossed_by(text: Text, line: Line2D) -> bool:
    """True when a horizontal line (``axhline``) runs through a text as drawn."""
    r = renderer(text.get_figure())
    box = text.get_window_extent(r)
    y = line.get_transform().transform((0.0, float(np.asarray(line.get_ydata())[0])))[1]
    return bool(box.y0 <= y <= box.y1)


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_BROKEN_DATE = re.compile(
    rf"(?:\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\n\d)|(?:\b\d{{1,2}}\n{_MONTH}\b)"
    rf"|(?:\b{_MONTH}\n\d{{4}}\b)|(?:\b\d{{4}}\n\d{{2}}:\d{{2}}\b)"
)


def broken_dates(text: str) -> list[str]:
    """Dates a wrapped text breaks across lines ("15" at one line's end, "May" on the next)."""
    return [m.group(0).replace("\n", " / ") for m in _BROKEN_DATE.finditer(text)]


def cut_by_tight_bbox(fig: Figure) -> list[str]:
    """Texts that a ``bbox_inches="tight"`` render (JupyterLab's inline figures) would cut."""
    r = renderer(fig)
    tight = fig.get_tightbbox(r).transformed(fig.dpi_scale_trans).expanded(1.0, 1.0)
    cut = []
    for text in visible_texts(fig):
        box = text.get_window_extent(r)
        if box.width and not (
            tight.x0 - 1 <= box.x0 and box.x1 <= tight.x1 + 1 and tight.y0 - 1 <= box.y0
        ):
            cut.append(text.get_text())
    return cut


def legends(fig: Figure) -> list:
    """Every legend drawn in the figure (axes and figure legends)."""
    return [lg for lg in fig.findobj(Legend) if lg.get_visible()]
