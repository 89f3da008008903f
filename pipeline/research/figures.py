"""Figure helpers of the research notebooks: coverage-aware series, fitted scales, captions.

A network or area series is only as good as the stations behind it: when a
third of the network stops reporting, a total drops although no bike moved.
So every series here is a *per-known-station* mean from ``indicators_area``,
drawn above a second panel with how many stations it covers, and a window
whose coverage is below a threshold is not drawn at all (a gap, shaded as
"no data"), never interpolated across.

Heatmaps are in :mod:`pipeline.research.heatmaps`.

Times: series are indexed by UTC ``window_start``; the axes show
Paris wall-clock time (:func:`pipeline.clock.local_naive`).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pipeline.clock import local_naive
from pipeline.research.tables import window_seconds

NO_DATA_COLOR = "0.92"
# One colour per concept, in every PNG and in the Vega charts of `dvc plots show`: the
# colour scales of .dvc/plots/*.json list these (tests/unit/test_plot_templates.py checks
# that they agree). Empty and full, mechanical and e-bike, weekday and weekend are told
# apart by hue and lightness both, so they survive a grey print and colour blindness.
COLORS = {
    "bikes": "#333333",
    "mechanical": "#f28e2b",
    "ebike": "#59a14f",
    "empty": "#e15759",
    "full": "#4e79a7",
    "weekday": "#76b7b2",
    "weekend": "#b07aa1",
    "stations_known": "#737373",
    # the poll log (05's observation.png): polls as the poll ticks under every series
    # (0.15 grey), a failed poll and a station gone from one poll to the next apart
    "polls": "#262626",
    "failed_polls": "#edc948",
    "disappeared": "#9c755f",
    # the forecasts (07): the model dark, persistence and its smoothed variant one olive
    # family (never drawn together), climatology a warm grey; the horizons a ramp of one
    # hue, lighter for shorter (+15 min, +30, +60). None is near an availability concept.
    "model": "#6a3d9a",
    "persistence": "#8f7f1f",
    "smoothed_persistence": "#d9c47a",
    "climatology": "#bab0ac",
    "horizon_15": "#f7b6d2",
    "horizon_30": "#d6619b",
    "horizon_60": "#8e1d5b",
}
# gids, so tests find what a helper drew
COVERAGE_GID = "coverage"
THRESHOLD_GID = "coverage-threshold"
NO_DATA_GID = "no-data"
CAPTION_GID = "caption"
THRESHOLD_LABEL_GID = "coverage-threshold-label"
POLLS_GID = "polls"  # the ticks at the foot of a coverage panel: when a poll observed
THIN_GID = "thin"  # hatching over an estimate resting on fewer observations than the stated minimum
THIN_HATCH = "////"
THIN_COLOR = "0.6"
# Widest figure a notebook draws: JupyterLab shows wider ones shrunk, or cut when unconfined.
MAX_WIDTH_IN = 12.0
_NBSP = "\u00a0"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
# "Sun 15 May", "15 May 2022 01:30", "Thu 12 May 12–23h": a wrapped caption never breaks one.
DATE = re.compile(
    rf"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?\d{{1,2}} {_MONTH}(?: \d{{4}})?"
    r"(?: \d{2}(?::\d{2}|[–-]\d{2}h|h))?"
)


# --- coverage-aware series -----------------------------------------------------------


def window_index(rows: pd.DataFrame) -> pd.DatetimeIndex:
    """Every window start from the first to the last of the rows (UTC), missing ones included."""
    step = pd.Timedelta(seconds=window_seconds(rows))
    return pd.date_range(rows["window_start"].min(), rows["window_start"].max(), freq=step)


def coverage_series(
    rows: pd.DataFrame,
    index: pd.DatetimeIndex,
    stations: int,
    min_coverage: float,
    columns: Sequence[str],
) -> pd.DataFrame:
    """One area's indicator columns on a regular window index, masked where coverage is low.

    Args:
        rows: the area's ``indicators_area`` rows (one area_level and area).
        index: the windows to show (:func:`window_index` of all rows, so areas align).
        stations: the area's stations (``research.stations_per_area``), coverage's denominator.
        min_coverage: below this share of ``stations`` known, a window is not drawn.
        columns: the indicator columns to keep.

    Returns:
        ``columns`` (NaN where not shown), ``stations_known_mean`` (0 where no
        station was known), ``coverage`` (its share of ``stations``) and ``shown``.
    """
    by_window = rows.set_index("window_start").reindex(index)
    known = by_window["stations_known_mean"].astype("float64").fillna(0.0)
    coverage = known / stations if stations else known * np.nan
    shown = coverage >= min_coverage
    out = by_window[list(columns)].astype("float64").where(shown)
    out["stations_known_mean"] = known
    out["coverage"] = coverage
    out["shown"] = shown
    return out


@dataclass(frozen=True)
class Line:
    """One line of a panel: its legend label, values indexed by UTC window start, colour."""

    label: str
    values: pd.Series
    color: str | None = None


def no_data_spans(shown: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of each run of windows not shown; ``end`` is the next window's start."""
    if shown.empty:
        return []
    step = shown.index[1] - shown.index[0] if len(shown) > 1 else pd.Timedelta(0)
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    start = None
    for when, ok in shown.items():
        if not ok and start is None:
            start = when
        elif ok and start is not None:
            spans.append((start, when))
            start = None
    if start is not None:
        spans.append((start, shown.index[-1] + step))
    return spans


def time_axis(ax: Axes, maxticks: int = 10) -> None:
    """Dates as a reader says them (``Thu 12 May``, ``18:00``) on a Paris wall-clock axis.

    ``maxticks``: fewer on a narrow panel, so that the day labels never overlap.
    """
    locator = mdates.AutoDateLocator(minticks=3, maxticks=maxticks)
    formatter = mdates.ConciseDateFormatter(
        locator,
        formats=["%Y", "%b", "%a %d %b", "%H:%M", "%H:%M", "%S"],
        zero_formats=["", "%Y", "%a %d %b", "%a %d %b", "%H:%M", "%H:%M"],
        offset_formats=["", "%Y", "%b %Y", "%b %Y", "%a %d %b %Y", "%a %d %b %Y"],
    )
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.grid(alpha=0.3)


def _local(index: pd.Index) -> pd.Series:
    return local_naive(pd.Series(index))


@dataclass(frozen=True)
class Coverage:
    """The lower panel of :func:`coverage_figure`: how much of the network each window knew.

    Attributes:
        lines: the share of each area's stations known per window (0..1), one line per area.
        min_coverage: the threshold: windows below it are left as gaps above.
        stations: with a single line, its station count: a right-hand axis then
            reads in stations known.
        polls: when the network was observed (UTC): a tick per poll at the foot
            of the panel, so carried-forward stretches show.
    """

    lines: Sequence[Line]
    min_coverage: float
    stations: int | None = None
    polls: pd.Series | None = None


def coverage_figure(
    values: Sequence[Line],
    coverage: Coverage,
    *,
    title: str,
    ylabel: str,
    caption: str,
    percent: bool = False,
) -> Figure:
    """Series above, their coverage below; windows below the coverage threshold left as gaps.

    Args:
        values: the lines of the upper panel (NaN where not shown).
        coverage: the lower panel (each area's coverage, the threshold, the polls).
        title: figure title.
        ylabel: the upper panel's axis label.
        caption: the figure's caption (period covered, source, attribution).
        percent: draw the upper values x 100 (shares, occupancy).
    """
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, height_ratios=(3, 1.2), layout="constrained"
    )
    scale = 100.0 if percent else 1.0
    colours = []
    for line in values:
        (drawn,) = top.plot(
            _local(line.values.index), line.values * scale, label=line.label, color=line.color
        )
        colours.append(drawn.get_color())
    _shade_gaps(top, bottom, pd.concat([line.values.notna() for line in values], axis=1))
    top.set_title(title)
    top.set_ylabel(ylabel)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    finite = pd.concat([line.values * scale for line in values]).dropna()
    if len(finite):
        low, high = fitted_limits(finite, step=_nice_step(finite))
        top.set_ylim(low, high)
    _coverage_panel(bottom, coverage, colours)
    for ax in (top, bottom):
        time_axis(ax)
    add_caption(fig, caption)
    return fig


@dataclass(frozen=True)
class Panel:
    """One area of :func:`coverage_grid`: its title, its series (NaN where not shown), coverage."""

    title: str
    values: pd.Series
    coverage: pd.Series


def coverage_grid(
    panels: Sequence[Panel],
    *,
    title: str,
    ylabel: str,
    caption: str,
    min_coverage: float,
    reference: Line | None = None,
    polls: pd.Series | None = None,
    percent: bool = False,
) -> Figure:
    """Small multiples: one panel per area on a shared scale, its coverage in a strip below it.

    Several areas overplotted on one axis hide each other, and their coverage
    lines (mostly at 100 %) fall on top of one another. Here each area has its
    own panel, the same y scale, a faint ``reference`` line (e.g. Paris) to read
    it against (the caption should name it), and under it a strip with its own
    coverage, the threshold and the polls; windows below ``min_coverage`` are
    gaps, shaded in both.
    """
    columns, color = 2, "#333333"
    rows = math.ceil(len(panels) / columns)
    fig = plt.figure(figsize=(MAX_WIDTH_IN, 1.4 + 2.5 * rows), layout="constrained")
    cells = fig.add_gridspec(2 * rows, columns, height_ratios=[3, 0.8] * rows)
    scale = 100.0 if percent else 1.0
    finite = pd.concat([p.values * scale for p in panels]).dropna()
    limits = fitted_limits(finite, step=_nice_step(finite)) if len(finite) else (0.0, 1.0)
    first = None
    for k, panel in enumerate(panels):
        row, col = divmod(k, columns)
        top = fig.add_subplot(cells[2 * row, col], sharex=first, sharey=first)
        strip = fig.add_subplot(cells[2 * row + 1, col], sharex=top)
        first = first or top
        if reference is not None:
            top.plot(
                _local(reference.values.index),
                reference.values * scale,
                color=reference.color or "0.7",
                linewidth=0.9,
                label=reference.label,
            )
        top.plot(_local(panel.values.index), panel.values * scale, color=color, linewidth=1.0)
        _shade_gaps(top, strip, panel.values.notna().to_frame(), named=False)  # caption says
        top.set_title(panel.title, fontsize=10, loc="left")
        top.set_ylim(*limits)
        if col == 0:
            top.set_ylabel(ylabel, fontsize=9)
            strip.set_ylabel("known\n(%)", fontsize=8)
        when = _local(panel.coverage.index)
        strip.fill_between(
            when, panel.coverage * 100, color="0.6", linewidth=0, step="post"
        ).set_gid(COVERAGE_GID)
        strip.axhline(min_coverage * 100, color="0.3", linestyle="--", linewidth=0.8).set_gid(
            THRESHOLD_GID
        )
        strip.set_ylim(0, 105)
        strip.set_yticks([0, 100])
        if polls is not None and len(polls):
            strip.vlines(
                _local(pd.Index(polls)), 0, 15, color=COLORS["polls"], linewidth=0.5, gid=POLLS_GID
            )
        for ax in (top, strip):
            time_axis(ax, maxticks=6)
            ax.tick_params(labelsize=8)
        top.tick_params(labelbottom=False)
        if row < rows - 1:
            strip.tick_params(labelbottom=False)
    fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def _shade_gaps(top: Axes, bottom: Axes, drawn: pd.DataFrame, *, named: bool = True) -> None:
    """Shade the windows where no series is drawn in both panels; ``named``: label long ones."""
    for start, end in no_data_spans(drawn.any(axis=1)):
        a, b = _local(pd.Index([start, end]))
        for ax in (top, bottom):
            ax.axvspan(a, b, color=NO_DATA_COLOR, zorder=0, gid=NO_DATA_GID)
        if named and (end - start) >= pd.Timedelta(hours=2):
            top.text(
                a + (b - a) / 2,
                0.5,
                "no data",
                transform=top.get_xaxis_transform(),
                ha="center",
                va="center",
                color="0.45",
                fontsize=9,
            )


def _coverage_panel(bottom: Axes, coverage: Coverage, colours: list[str]) -> None:
    """Each area's coverage (in its series' colour), the threshold, the polls, the axes."""
    for i, line in enumerate(coverage.lines):
        colour = line.color or (colours[i] if i < len(colours) else None)
        (drawn,) = bottom.plot(
            _local(line.values.index), line.values * 100, label=line.label, color=colour
        )
        drawn.set_gid(COVERAGE_GID)
    threshold = coverage.min_coverage
    bottom.axhline(threshold * 100, color="0.3", linestyle="--", linewidth=1).set_gid(THRESHOLD_GID)
    bottom.set_ylim(0, 105)
    bottom.set_ylabel("stations\nknown (%)")
    label = bottom.annotate(  # above its line, on a white box: never crossed by it
        f"below {threshold:.0%}: not drawn",
        (0.0, threshold * 100),
        xycoords=bottom.get_yaxis_transform(),
        xytext=(3, 3),
        textcoords="offset points",
        va="bottom",
        fontsize=7,
        color="0.3",
        zorder=5,
        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},
    )
    label.set_gid(THRESHOLD_LABEL_GID)
    if coverage.polls is not None and len(coverage.polls):
        _poll_ticks(bottom, coverage.polls)
    if coverage.stations and len(coverage.lines) == 1:
        right = bottom.twinx()
        right.set_ylim(0, 1.05 * coverage.stations)
        right.set_ylabel("stations\nknown", fontsize=8)
    elif len(coverage.lines) > 1:  # the legend above names the colours: no second one
        bottom.text(
            1.01, 0.5, "colours as above", transform=bottom.transAxes, fontsize=7, color="0.3"
        )
    bottom.set_xlabel("local time (Europe/Paris)")


def _poll_ticks(bottom: Axes, polls: pd.Series) -> None:
    """A tick per poll at the foot of the coverage panel."""
    ticks = bottom.vlines(
        _local(pd.Index(polls)), 0, 8, color=COLORS["polls"], linewidth=0.6, gid=POLLS_GID
    )
    ticks.set_label("polls")
    bottom.text(
        1.0,
        0.1,
        "ticks: polls ",
        transform=bottom.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="0.3",
    )


def _nice_step(values: pd.Series) -> float:
    """A round step about a tenth of the values' range (for fitted axis limits)."""
    span = float(values.max() - values.min())
    if not math.isfinite(span) or span <= 0:
        return 1.0
    return float(10 ** math.floor(math.log10(span / 2)))


def add_caption(fig: Figure, text: str) -> None:
    """A small caption under the figure (period, source, attribution); layout keeps room for it.

    It is wrapped to the figure's width (about 14 characters per inch at this
    size), so the attribution at its end is never cut off, and never inside a
    date (:data:`DATE`: "15 May 2022 01:30" stays on one line).
    """
    label = fig.supxlabel(
        wrap_caption(text, fig.get_figwidth()), fontsize=7.5, color="0.3", x=0.01, ha="left"
    )
    label.set_gid(CAPTION_GID)


def wrap_caption(text: str, width_in: float) -> str:
    """A caption wrapped to a figure ``width_in`` inches wide, never inside a date."""
    width = max(int(width_in * 14), 40)
    kept = DATE.sub(lambda m: m.group(0).replace(" ", _NBSP), text)
    return textwrap.fill(kept, width=width, break_long_words=False).replace(_NBSP, " ")


# --- scales and labels ---------------------------------------------------------------------


def fitted_limits(values: pd.Series | np.ndarray, step: float = 0.01) -> tuple[float, float]:
    """The data's range widened to multiples of ``step`` (a colour or axis scale that fits).

    An all-missing input gives (0, 1); a constant one is widened by one step each side.
    """
    finite = pd.Series(np.asarray(values, dtype="float64").ravel()).dropna()
    if finite.empty:
        return 0.0, 1.0
    low = math.floor(round(finite.min() / step, 9)) * step
    high = math.ceil(round(finite.max() / step, 9)) * step
    if high <= low:
        low, high = low - step, high + step
    return round(low, 10), round(high, 10)


def compact_count(n: float) -> str:
    """A count short enough for a tick label: ``82``, ``1.6k``, ``15.9k``, ``210k``, ``1.2M``.

    Missing gives ``""``; below 1000 it is rounded to a whole number.
    """
    if n is None or not math.isfinite(float(n)):
        return ""
    value = float(n)
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.0f}{suffix}" if abs(scaled) >= 100 else f"{scaled:.1f}{suffix}"
    return f"{value:.0f}"


def wrap_label(text: str, width: int = 34) -> str:
    """A long label on two or more lines instead of cut (no word is ever dropped)."""
    return textwrap.fill(str(text), width=width, break_long_words=False, break_on_hyphens=False)


def ranges(
    ax: Axes,
    x: np.ndarray | Sequence[float],
    low: np.ndarray | Sequence[float],
    high: np.ndarray | Sequence[float],
    *,
    color: str,
    label: str | None = None,
    linewidth: float = 2.0,
    cap: float = 7.0,
) -> None:
    """Vertical ranges with a cap at each end: "the value lies in here", not a length from 0.

    A filled bar reads as a quantity measured from the axis; a range whose lower
    end happens to be 0 (a bound at the recording's resolution) then looks like
    a length of ``high``. Capped ends say that both ends are the information.
    Missing ends leave that range out.
    """
    xs, lo, hi = (np.asarray(v, dtype="float64") for v in (x, low, high))
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.vlines(
        xs[ok],
        lo[ok],
        hi[ok],
        color=color,
        linewidth=linewidth,
        label=label if label is not None else "_nolegend_",
    )
    ends = np.concatenate([lo[ok], hi[ok]])
    ax.plot(
        np.concatenate([xs[ok], xs[ok]]),
        ends,
        linestyle="none",
        marker="_",
        markersize=cap,
        markeredgewidth=linewidth,
        color=color,
    )


def hatch_thin_columns(ax: Axes, positions: Sequence[float], width: float = 1.0) -> None:
    """Hatch the full height of each column at ``positions``: its estimate rests on too little.

    The estimate itself is not drawn there (the caller omits it); the hatch says
    "too few observations", distinct from the plain grey of "none at all"
    (:data:`NO_DATA_COLOR`).
    """
    for x in positions:
        ax.axvspan(
            x - width / 2,
            x + width / 2,
            facecolor="none",
            edgecolor=THIN_COLOR,
            hatch=THIN_HATCH,
            linewidth=0,
            zorder=0,
            gid=THIN_GID,
        )


def hatch_thin_cells(ax: Axes, thin: np.ndarray) -> None:
    """Hatch the cells of an ``imshow`` grid where ``thin`` is true (rows x columns, unit cells)."""
    for i, j in zip(*np.nonzero(np.asarray(thin, dtype=bool)), strict=True):
        ax.add_patch(
            plt.Rectangle(
                (j - 0.5, i - 0.5),
                1,
                1,
                facecolor="none",
                edgecolor=THIN_COLOR,
                hatch=THIN_HATCH,
                linewidth=0,
                gid=THIN_GID,
            )
        )


def none_panel(ax: Axes, message: str) -> None:
    """An empty panel that says why it is empty instead of drawing a bare 0-1 frame."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, transform=ax.transAxes)
