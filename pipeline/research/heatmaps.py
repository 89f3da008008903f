"""Heatmaps of the research notebooks: hour of day x date (or day of the week), fitted scales.

A heatmap fits the recording: hour x date when the data holds a few days
(the missing ones shown as empty rows), hour x day of the week only when
every day of the week has data; the colour scale spans the data's range, not
0-100 %. An hour's value weighs each window by its known station-time, and
an hour whose coverage is under the threshold is left blank.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline.research.figures import NO_DATA_COLOR, add_caption, fitted_limits
from pipeline.research.tables import PARIS_TZ, window_seconds

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hourly_cells(rows: pd.DataFrame, stations: int, column: str = "occupancy_mean") -> pd.DataFrame:
    """One area's windows rolled up per local date and hour.

    Each window weighs its known station-time (``stations_known_mean``);
    ``coverage`` is the hour's known station-time over ``stations`` x the hour,
    so windows missing from the data count as unknown.

    Returns:
        ``date`` (local, ``datetime.date``), ``hour`` (0-23), ``value``, ``coverage``.
    """
    local = rows["window_start"].dt.tz_convert(PARIS_TZ)
    weight = rows["stations_known_mean"].astype("float64")
    frame = pd.DataFrame(
        {
            "date": local.dt.date,
            "hour": local.dt.hour,
            "num": rows[column].astype("float64") * weight,
            "w": weight.where(rows[column].notna(), 0.0),
            "known": weight,
        }
    )
    cells = frame.groupby(["date", "hour"], sort=True)[["num", "w", "known"]].sum().reset_index()
    per_hour = 3600.0 / window_seconds(rows)
    cells["value"] = (cells["num"] / cells["w"]).where(cells["w"] > 0)
    cells["coverage"] = cells["known"] / (stations * per_hour) if stations else np.nan
    return cells[["date", "hour", "value", "coverage"]]


def heatmap_layout(dates: Sequence[object]) -> str:
    """``weekday`` when every weekday has data, else ``date`` (a few days: one row each)."""
    weekdays = {pd.Timestamp(d).dayofweek for d in dates}
    return "weekday" if weekdays == set(range(7)) else "date"


def heatmap_grid(cells: pd.DataFrame, min_coverage: float) -> tuple[pd.DataFrame, str]:
    """Rows x 24 hours of the cells whose coverage reaches ``min_coverage``.

    Returns:
        The grid (row labels ``Thu 12 May`` for every date from the first to
        the last with data, missing dates as empty rows; or ``Mon``..``Sun``,
        the mean over that weekday's dates) and the layout name.
    """
    kept = cells[cells["coverage"] >= min_coverage].dropna(subset=["value"])
    layout = heatmap_layout(sorted(kept["date"].unique()))
    if kept.empty:
        return pd.DataFrame(columns=range(24), dtype="float64"), layout
    if layout == "weekday":
        weekday = kept["date"].map(lambda d: pd.Timestamp(d).dayofweek)
        grid = kept.groupby([weekday, "hour"])["value"].mean().unstack("hour")
        grid = grid.reindex(index=range(7), columns=range(24))
        grid.index = list(DAYS)
        return grid, layout
    first, last = min(kept["date"]), max(kept["date"])
    dates = pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="D").date
    grid = kept.pivot_table(index="date", columns="hour", values="value", aggfunc="mean")
    grid = grid.reindex(index=dates, columns=range(24))
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
        head = "Hours with data: " + ", ".join(spans)
    return f"{head}; grey: no data or under {min_coverage:.0%} of stations known; period"


def heatmap_figure(
    grid: pd.DataFrame, *, title: str, label: str, caption: str, percent: bool = True
) -> Figure:
    """Draw a heatmap grid with a fitted colour scale, values written in the cells."""
    scale = 100.0 if percent else 1.0
    data = grid.to_numpy(dtype="float64") * scale
    low, high = fitted_limits(data, step=1.0 if percent else 0.1)
    height = 1.6 + 0.42 * max(len(grid), 1)
    fig, ax = plt.subplots(figsize=(12, height), layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad=NO_DATA_COLOR)
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap=cmap, vmin=low, vmax=high)
    norm = image.norm
    for (i, j), value in np.ndenumerate(data):
        if np.isfinite(value) and data.size <= 24 * 16:
            dark = norm(value) < 0.55
            ax.text(
                j,
                i,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_yticks(range(len(grid)), [str(i) for i in grid.index])
    ax.set_xticks(range(24))
    ax.set_xlabel("hour of day, local time (Europe/Paris)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label, pad=0.01)
    add_caption(fig, caption)
    return fig
