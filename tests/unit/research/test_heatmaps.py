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

from pipeline.research import figures, heatmaps  # noqa: E402


def test_heatmap_layout_needs_every_weekday():
    few = [date(2022, 5, 12), date(2022, 5, 14)]
    week = [date(2022, 5, d) for d in range(12, 19)]
    assert heatmaps.heatmap_layout(few) == "date"
    assert heatmaps.heatmap_layout(week) == "weekday"
    assert heatmaps.heatmap_layout(week[:-1]) == "date"


def observed(rows: pd.DataFrame, polls: list[int], seen: list[int]) -> pd.DataFrame:
    return rows.assign(polls=polls, stations_seen=seen)


def test_hourly_cells_use_observed_windows_only_weighing_their_station_time():
    # 10:00-11:00 UTC = 12:00-13:00 Paris: four windows, polls in the 1st and 3rd only
    rows = observed(area_rows([100, 50, 80, 60]), [1, 0, 2, 0], [90, 0, 70, 0])
    (cell,) = heatmaps.hourly_cells(rows, stations=100).itertuples()
    assert (cell.date, cell.hour) == (date(2022, 5, 12), 12)
    assert cell.value == pytest.approx((0.30 * 100 + 0.32 * 80) / 180)  # not 0.31, 0.33
    assert cell.coverage == pytest.approx((90 + 70) / (100 * 2))  # stations the polls listed
    assert (cell.polls, cell.windows) == (3, 2)


def test_a_profile_cell_with_no_poll_is_absent_not_zero():
    # 12h Paris observed, 13h carried forward only (values, but no poll)
    rows = observed(area_rows([100] * 8), [1, 0, 0, 0, 0, 0, 0, 0], [100] + [0] * 7)
    cells = heatmaps.hourly_cells(rows, stations=100)
    assert list(cells["hour"]) == [12]
    grid, _ = heatmaps.heatmap_grid(cells, min_coverage=0.5)
    assert np.isnan(grid.loc["Thu 12 May", 13]) and grid.loc["Thu 12 May", 12] == 0.3
    polls, _ = heatmaps.heatmap_grid(cells, 0.5, "polls", "sum")
    assert polls.loc["Thu 12 May", 12] == 1 and np.isnan(polls.loc["Thu 12 May", 13])
    # the old rule (every window, carried forward or not) drew a value there
    old = heatmaps.hourly_cells(rows, stations=100, observed_only=False)
    assert list(old["hour"]) == [12, 13] and old["value"].notna().all()


def test_hourly_cells_of_all_windows_count_missing_windows_as_unknown():
    # 10:00-11:00 UTC = 12:00-13:00 Paris: two of four windows known, by 100 and 50 stations.
    rows = observed(area_rows([100, 50]), [0, 0], [0, 0])
    (cell,) = heatmaps.hourly_cells(rows, stations=100, observed_only=False).itertuples()
    assert cell.value == pytest.approx((0.30 * 100 + 0.31 * 50) / 150)
    assert cell.coverage == pytest.approx(150 / (100 * 4))
    assert heatmaps.hourly_cells(rows, stations=100).empty


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
        {
            "date": days,
            "hour": 8,
            "value": [0.2 + 0.01 * i for i in range(14)],
            "coverage": 1.0,
            "polls": [1 + i for i in range(14)],
        }
    )
    grid, layout = heatmaps.heatmap_grid(cells, 0.5)
    assert layout == "weekday" and list(grid.index) == list(heatmaps.DAYS)
    assert grid.loc["Mon", 8] == pytest.approx((0.20 + 0.27) / 2)
    polls, _ = heatmaps.heatmap_grid(cells, 0.5, "polls", "sum")
    days_in, _ = heatmaps.heatmap_grid(cells, 0.5, "value", "count")
    assert polls.loc["Mon", 8] == 1 + 8 and days_in.loc["Mon", 8] == 2
    assert np.isnan(polls.loc["Mon", 9])


def test_heatmap_figure_scale_fits_the_data_and_notes_what_backs_each_cell():
    grid = pd.DataFrame([[0.30, 0.35], [np.nan, 0.41]], index=["Thu 12 May", "Sat 14 May"])
    notes = pd.DataFrame([["3p", "1p"], ["", "2p"]], index=grid.index)
    fig = heatmaps.heatmap_figure(grid, title="t", label="occupancy (%)", caption="c", notes=notes)
    (image,) = figcheck.images(fig)
    assert image.get_clim() == pytest.approx((30.0, 41.0))
    assert figcheck.texts_outside(fig) == []
    written = sorted(t.get_text() for t in fig.axes[0].texts)
    assert written == sorted(["30", "35", "41", "3p", "1p", "2p"])  # nothing in the grey cell
    plt.close(fig)


def test_heatmap_caption_lists_each_dates_hours():
    grid = pd.DataFrame(np.nan, index=["Thu 12 May", "Fri 13 May", "Sun 15 May"], columns=range(24))
    grid.loc["Thu 12 May", 12:23] = 0.3
    grid.loc["Sun 15 May", 0] = 0.3
    text = heatmaps.heatmap_caption(grid, "date", 0.5)
    assert text.startswith("Hours observed: Thu 12 May 12–23h, Sun 15 May 00h;")
    assert "Fri 13 May" not in text and "50%" in text
    assert "no poll in that hour" in text and "never a value carried forward" in text


def test_heatmap_caption_of_the_week_names_saturday_and_sunday_as_days_not_weekdays():
    grid = pd.DataFrame(0.3, index=list(heatmaps.DAYS), columns=range(24))
    text = heatmaps.heatmap_caption(grid, "weekday", 0.5)
    assert "weekdays" not in text
    assert text.startswith("7 days of the week (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def test_heatmap_figure_hatches_thin_cells_without_a_value_or_a_colour():
    grid = pd.DataFrame([[0.30, 0.35], [0.90, 0.41]], index=["Mon", "Tue"])
    notes = pd.DataFrame([["3p", "1p"], ["1p", "2p"]], index=grid.index)
    thin = pd.DataFrame([[False, True], [True, False]], index=grid.index)
    fig = heatmaps.heatmap_figure(
        grid, title="t", label="occupancy (%)", caption="c", notes=notes, thin=thin
    )
    (image,) = figcheck.images(fig)
    # 90 % rests on one poll: not on the scale
    assert image.get_clim() == pytest.approx((30.0, 41.0))
    assert np.ma.getmaskarray(image.get_array()).tolist() == thin.to_numpy().tolist()
    hatched = figcheck.by_gid(fig, figures.THIN_GID)
    assert sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in hatched) == [(0.0, 1.0), (1.0, 0.0)]
    written = fig.axes[0].texts
    assert sorted(t.get_text() for t in written) == sorted(["30", "41", "3p", "2p"])
    assert min(t.get_fontsize() for t in written) >= 7, "no ~6 px labels"
    plt.close(fig)
