"""Heatmaps of the research notebooks: hour of day x date (or day of the week), fitted scales.

A heatmap fits the recording: hour x date when the data holds a few days
(the missing ones shown as empty rows), hour x day of the week only when
every day of the week has data; the colour scale spans the data's range, not
0-100 %. A cell is built from the *observed* windows only (``polls > 0``: a
poll read the network in them), each weighing its known station-time; an
hour that no poll observed has no cell (grey, never a value carried forward
from an earlier poll, never a 0), and every cell says how many polls (and
days) are behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline.clock import paris_times
from pipeline.research.figures import NO_DATA_COLOR, add_caption, fitted_limits, hatch_thin_cells
from pipeline.research.tables import window_seconds

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hourly_cells(
    rows: pd.DataFrame, stations: int, column: str = "occupancy_mean", observed_only: bool = True
) -> pd.DataFrame:
    """One area's windows rolled up per local date and hour.

    Each window weighs its known station-time (``stations_known_mean``). By
    default only observed windows count (``polls > 0``), and ``coverage`` is
    the share of ``stations`` their polls listed (``stations_seen``): an hour
    with no poll has no row. With ``observed_only=False`` (the old rule, kept
    to measure what it did) every window counts, carried-forward ones too,
    and ``coverage`` is the hour's known station-time over ``stations`` x the hour.

    Returns:
        ``date`` (local, ``datetime.date``), ``hour`` (0-23), ``value``,
        ``coverage``, ``polls`` (polls in the cell's windows), ``windows``.
    """
    if observed_only:
        rows = rows[rows["polls"].fillna(0) > 0]
    local = paris_times(rows["window_start"])
    weight = rows["stations_known_mean"].astype("float64")
    frame = pd.DataFrame(
        {
            "date": local.dt.date,
            "hour": local.dt.hour,
            "num": rows[column].astype("float64") * weight,
            "w": weight.where(rows[column].notna(), 0.0),
            "known": weight,
            "seen": rows["stations_seen"].astype("float64") if observed_only else weight,
            "polls": rows["polls"].fillna(0).astype("int64"),
            "windows": 1,
        }
    )
    sums = ["num", "w", "known", "seen", "polls", "windows"]
    cells = frame.groupby(["date", "hour"], sort=True)[sums].sum().reset_index()
    cells["value"] = (cells["num"] / cells["w"]).where(cells["w"] > 0)
    if not stations:
        cells["coverage"] = np.nan
    elif observed_only:
        cells["coverage"] = cells["seen"] / (stations * cells["windows"])
    else:
        cells["coverage"] = cells["known"] / (stations * 3600.0 / window_seconds(rows))
    return cells[["date", "hour", "value", "coverage", "polls", "windows"]]


def heatmap_layout(dates: Sequence[object]) -> str:
    """``weekday`` when every weekday has data, else ``date`` (a few days: one row each)."""
    weekdays = {pd.Timestamp(d).dayofweek for d in dates}
    return "weekday" if weekdays == set(range(7)) else "date"


def heatmap_grid(
    cells: pd.DataFrame, min_coverage: float, column: str = "value", how: str = "mean"
) -> tuple[pd.DataFrame, str]:
    """Rows x 24 hours of the cells whose coverage reaches ``min_coverage``.

    Args:
        cells: :func:`hourly_cells`.
        min_coverage: a cell under this coverage is left out (grey).
        column: what to lay out: ``value``, or a count such as ``polls``.
        how: how the dates of one weekday combine: ``mean`` (values), ``sum``
            (polls), ``count`` (days).

    Returns:
        The grid (row labels ``Thu 12 May`` for every date from the first to
        the last with data, missing dates as empty rows; or ``Mon``..``Sun``,
        the dates of that weekday combined) and the layout name.
    """
    kept = cells[cells["coverage"] >= min_coverage].dropna(subset=["value"])
    layout = heatmap_layout(sorted(kept["date"].unique()))
    if kept.empty:
        return pd.DataFrame(columns=range(24), dtype="float64"), layout
    if layout == "weekday":
        weekday = kept["date"].map(lambda d: pd.Timestamp(d).dayofweek)
        grid = kept.groupby([weekday, "hour"])[column].agg(how).unstack("hour")
        grid = grid.reindex(index=range(7), columns=range(24)).astype("float64")
        grid.index = list(DAYS)
        return grid, layout
    first, last = min(kept["date"]), max(kept["date"])
    dates = pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="D").date
    grid = kept.pivot_table(index="date", columns="hour", values=column, aggfunc=how)
    grid = grid.reindex(index=dates, columns=range(24)).astype("float64")
    grid.index = [pd.Timestamp(d).strftime("%a %d %b") for d in dates]
    return grid, layout


def heatmap_caption(grid: pd.DataFrame, layout: str, min_coverage: float) -> str:
    """What a heatmap's rows hold, for its caption: each date's hours, or the days of the week.

    The weekday layout holds every day of the week, Saturday and Sunday
    included, so it lists them rather than call them "weekdays".
    """
    rows = [(str(label), row.dropna().index) for label, row in grid.iterrows()]
    rows = [(label, hours) for label, hours in rows if len(hours)]
    if layout == "weekday":
        head = f"{len(rows)} days of the week ({', '.join(label for label, _ in rows)})"
    else:
        spans = [
            f"{label} {int(h[0]):02d}h"
            if h[0] == h[-1]
            else f"{label} {int(h[0]):02d}–{int(h[-1]):02d}h"
            for label, h in rows
        ]
        head = "Hours observed: " + ", ".join(spans)
    return (
        f"{head}; grey: no poll in that hour, or its polls listed under {min_coverage:.0%} "
        "of the stations (never a value carried forward); under each value: the polls "
        f"{'(p) and days (d) ' if layout == 'weekday' else '(p) '}behind it"
    )


def heatmap_figure(
    grid: pd.DataFrame,
    *,
    title: str,
    label: str,
    caption: str,
    percent: bool = True,
    notes: pd.DataFrame | None = None,
    thin: pd.DataFrame | None = None,
) -> Figure:
    """Draw a heatmap grid with a fitted colour scale, values written in the cells.

    ``notes`` (the grid's shape, strings) is written under each value: what
    backs the cell, e.g. its polls and days. ``thin`` (the grid's shape,
    booleans) marks cells resting on too little (fewer polls than a stated
    minimum): they get no colour and no value, only a hatch over the grey, so
    neither the scale nor the eye is drawn to them. Texts are at least 7 pt.
    """
    scale = 100.0 if percent else 1.0
    data = grid.to_numpy(dtype="float64") * scale
    weak = (
        np.zeros(data.shape, dtype=bool)
        if thin is None
        else thin.reindex_like(grid).fillna(False).to_numpy(dtype=bool) & np.isfinite(data)
    )
    data = np.where(weak, np.nan, data)
    low, high = fitted_limits(data, step=1.0 if percent else 0.1)
    height = 1.8 + (0.62 if notes is not None else 0.45) * max(len(grid), 1)
    fig, ax = plt.subplots(figsize=(12, height), layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad=NO_DATA_COLOR)
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap=cmap, vmin=low, vmax=high)
    norm = image.norm
    for (i, j), value in np.ndenumerate(data):
        if np.isfinite(value) and data.size <= 24 * 16:
            color = "white" if float(np.asarray(norm(value))) < 0.55 else "black"
            note = "" if notes is None else str(notes.iat[i, j])
            lift = 0.14 if note else 0.0
            ax.text(j, i - lift, f"{value:.0f}", ha="center", va="center", fontsize=9, color=color)
            if note:
                ax.text(j, i + 0.24, note, ha="center", va="center", fontsize=7, color=color)
    hatch_thin_cells(ax, weak)
    ax.set_yticks(range(len(grid)), [str(i) for i in grid.index])
    ax.set_xticks(range(24))
    ax.set_xlabel("hour of day, local time (Europe/Paris)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label, pad=0.01)
    add_caption(fig, caption)
    return fig
