"""Heatmaps fitted to the recording: hour x date or x day of the week, and their captions."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import figcheck  # noqa: E402
from test_figures import area_rows  # noqa: E402

from pipeline.research import heatmaps  # noqa: E402


def test_heatmap_layout_needs_every_weekday():
    few = [date(2022, 5, 12), date(2022, 5, 14)]
    week = [date(2022, 5, d) for d in range(12, 19)]
    assert heatmaps.heatmap_layout(few) == "date"
    assert heatmaps.heatmap_layout(week) == "weekday"
    assert heatmaps.heatmap_layout(week[:-1]) == "date"


def test_hourly_cells_weigh_station_time_and_count_missing_windows_as_unknown():
    # 10:00-11:00 UTC = 12:00-13:00 Paris: two of four windows known, by 100 and 50 stations.
    rows = area_rows([100, 50])
    cells = heatmaps.hourly_cells(rows, stations=100)
    (cell,) = cells.itertuples()
    assert (cell.date, cell.hour) == (date(2022, 5, 12), 12)
    assert cell.value == pytest.approx((0.30 * 100 + 0.31 * 50) / 150)
    assert cell.coverage == pytest.approx(150 / (100 * 4))


def test_heatmap_grid_keeps_missing_dates_as_empty_rows():
    cells = pd.DataFrame(
        {
            "date": [date(2022, 5, 12), date(2022, 5, 14), date(2022, 5, 14)],
            "hour": [20, 9, 10],
            "value": [0.3, 0.4, 0.2],
            "coverage": [1.0, 1.0, 0.1],
        }
    )
    grid, layout = heatmaps.heatmap_grid(cells, min_coverage=0.5)
    assert layout == "date"
    assert list(grid.index) == ["Thu 12 May", "Fri 13 May", "Sat 14 May"]
    assert list(grid.columns) == list(range(24))
    assert grid.loc["Fri 13 May"].isna().all()
    assert grid.loc["Sat 14 May", 9] == 0.4 and np.isnan(grid.loc["Sat 14 May", 10])


def test_heatmap_grid_by_weekday_when_the_week_is_complete():
    days = [date(2022, 5, d) for d in range(16, 30)]  # two full weeks, Mon 16 to Sun 29
    cells = pd.DataFrame(
        {"date": days, "hour": 8, "value": [0.2 + 0.01 * i for i in range(14)], "coverage": 1.0}
    )
    grid, layout = heatmaps.heatmap_grid(cells, 0.5)
    assert layout == "weekday" and list(grid.index) == list(heatmaps.DAYS)
    assert grid.loc["Mon", 8] == pytest.approx((0.20 + 0.27) / 2)


def test_heatmap_figure_scale_fits_the_data():
    grid = pd.DataFrame([[0.30, 0.35], [np.nan, 0.41]], index=["Thu 12 May", "Sat 14 May"])
    fig = heatmaps.heatmap_figure(grid, title="t", label="occupancy (%)", caption="c")
    (image,) = figcheck.images(fig)
    assert image.get_clim() == pytest.approx((30.0, 41.0))
    assert figcheck.texts_outside(fig) == []
    plt.close(fig)


def test_heatmap_caption_lists_each_dates_hours():
    grid = pd.DataFrame(np.nan, index=["Thu 12 May", "Fri 13 May", "Sun 15 May"], columns=range(24))
    grid.loc["Thu 12 May", 12:23] = 0.3
    grid.loc["Sun 15 May", 0] = 0.3
    text = heatmaps.heatmap_caption(grid, "date", 0.5)
    assert text.startswith("Hours with data: Thu 12 May 12–23h, Sun 15 May 00h;")
    assert "Fri 13 May" not in text and "50%" in text


def test_heatmap_caption_of_the_week_names_saturday_and_sunday_as_days_not_weekdays():
    grid = pd.DataFrame(0.3, index=list(heatmaps.DAYS), columns=range(24))
    text = heatmaps.heatmap_caption(grid, "weekday", 0.5)
    assert "weekdays" not in text
    assert text.startswith("7 days of the week (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
