"""Figure helpers: coverage masks, gaps, fitted scales, heatmap layouts, and what they draw."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import figcheck  # noqa: E402

from pipeline.research import figures  # noqa: E402
from pipeline.research.figures import Coverage, Line  # noqa: E402

T0 = pd.Timestamp("2022-05-12T10:00:00Z")


def area_rows(known: list[float | None], value: float = 0.3) -> pd.DataFrame:
    """Network rows, one per 15-minute window; None = no row for that window."""
    rows = [
        {
            "window_start": T0 + pd.Timedelta(minutes=15 * k),
            "window_end": T0 + pd.Timedelta(minutes=15 * (k + 1)),
            "stations_known_mean": n,
            "occupancy_mean": value + 0.01 * k,
            "bikes_mean": 10.0 + k,
        }
        for k, n in enumerate(known)
        if n is not None
    ]
    return pd.DataFrame(rows)


def test_coverage_series_masks_low_coverage_and_missing_windows():
    rows = area_rows([100, 40, None, 90, 100])
    index = pd.date_range(T0, periods=5, freq="15min")
    out = figures.coverage_series(rows, index, 100, 0.5, ["bikes_mean"])
    assert out["shown"].tolist() == [True, False, False, True, True]
    assert out["stations_known_mean"].tolist() == [100, 40, 0, 90, 100]
    assert out["coverage"].tolist() == [1.0, 0.4, 0.0, 0.9, 1.0]
    assert out["bikes_mean"].isna().tolist() == [False, True, True, False, False]


def test_window_index_fills_missing_windows():
    rows = area_rows([1, None, None, 1])
    index = figures.window_index(rows)
    assert len(index) == 4 and index.freq == pd.Timedelta(minutes=15)


def test_no_data_spans():
    shown = pd.Series(
        [True, False, False, True, False], index=pd.date_range(T0, periods=5, freq="15min")
    )
    spans = figures.no_data_spans(shown)
    assert spans == [
        (T0 + pd.Timedelta(minutes=15), T0 + pd.Timedelta(minutes=45)),
        (T0 + pd.Timedelta(minutes=60), T0 + pd.Timedelta(minutes=75)),
    ]


@pytest.mark.parametrize(
    "values, step, expected",
    [
        ([0.301, 0.409], 0.01, (0.30, 0.41)),  # the 30-41 % case: a scale that fits it
        ([35.5, 35.5], 1.0, (35.0, 36.0)),
        ([35.0, 35.0], 1.0, (34.0, 36.0)),  # constant on a step: widened, never zero-height
        ([np.nan], 0.01, (0.0, 1.0)),
        ([30.0, 40.0], 1.0, (30.0, 40.0)),
    ],
)
def test_fitted_limits(values, step, expected):
    assert figures.fitted_limits(np.array(values), step) == pytest.approx(expected)


def test_wrap_label_keeps_every_word():
    name = "21307 Victor Cresson - Telles de la Poterie (Issy-les-Moulineaux)"
    wrapped = figures.wrap_label(name, 30)
    assert "\n" in wrapped and wrapped.replace("\n", " ") == name
    assert "Issy-les-Moulineaux" in wrapped.splitlines()[-1]


def test_coverage_figure_draws_values_coverage_threshold_and_gaps():
    rows = area_rows([100, 100, 10, 10, 100, 100], value=0.3)
    index = figures.window_index(rows)
    series = figures.coverage_series(rows, index, 100, 0.5, ["bikes_mean"])
    fig = figures.coverage_figure(
        [Line("bikes", series["bikes_mean"], "black")],
        Coverage([Line("network", series["coverage"], "black")], 0.5, stations=100),
        title="title",
        ylabel="bikes per station",
        caption="Data: a caption long enough to be wrapped " * 6,
    )
    top, bottom = fig.axes[:2]
    assert [ln.get_label() for ln in figcheck.lines(top)] == ["bikes"]
    assert len(figcheck.by_gid(fig, figures.COVERAGE_GID)) == 1
    assert figcheck.by_gid(fig, figures.THRESHOLD_GID)[0].get_ydata()[0] == pytest.approx(50)
    assert len(figcheck.by_gid(fig, figures.NO_DATA_GID)) == 2  # one span in each panel
    low, high = top.get_ylim()
    assert 0 < low <= 10 and 15 <= high < 20  # fitted to 10..15, not from 0
    assert bottom.get_ylim() == (0, 105)
    assert figcheck.texts_outside(fig) == [] and figcheck.empty_axes(fig) == []
    plt.close(fig)


def test_coverage_figure_ticks_each_poll_under_the_coverage():
    rows = area_rows([100, 100, 100, 100])
    index = figures.window_index(rows)
    series = figures.coverage_series(rows, index, 100, 0.5, ["bikes_mean"])
    polls = pd.Series([T0 + pd.Timedelta(minutes=m) for m in (2, 31, 50)])
    fig = figures.coverage_figure(
        [Line("bikes", series["bikes_mean"], "black")],
        Coverage([Line("network", series["coverage"], "black")], 0.5, polls=polls),
        title="t",
        ylabel="bikes",
        caption="c",
    )
    (ticks,) = figcheck.by_gid(fig, figures.POLLS_GID)
    assert ticks.axes is fig.axes[1] and len(ticks.get_segments()) == 3
    first = ticks.get_segments()[0][0][0]  # at 12:02 on the Paris wall clock
    assert mdates.num2date(first).strftime("%H:%M") == "12:02"
    plt.close(fig)


def test_none_panel_is_a_message_not_an_empty_frame():
    fig, ax = plt.subplots()
    figures.none_panel(ax, "none rejected")
    assert figcheck.empty_axes(fig) == [] and [t.get_text() for t in ax.texts] == ["none rejected"]
    fig2, ax2 = plt.subplots()
    assert figcheck.empty_axes(fig2) != []  # what the check catches
    plt.close("all")


def test_figure_checks_catch_what_a_reader_would_see():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(range(5), [10] * 5, label="empty (no bike)")
    ax.legend(loc="upper left")
    assert figcheck.legend_covers(ax, figcheck.bars(ax)), "a legend over the bars"
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0))
    assert figcheck.legend_covers(ax, figcheck.bars(ax)) == []
    ax.set_yticks([5], ["21307 Victor Cresson - Telles de la Poterie (Issy-les-Moulineaux)"])
    assert figcheck.texts_outside(fig), "a tick label cut by the canvas edge"
    plt.close(fig)


def two_areas_figure() -> plt.Figure:
    rows = area_rows([100, 100, 10, 10, 100, 100], value=0.3)
    index = figures.window_index(rows)
    series = figures.coverage_series(rows, index, 100, 0.5, ["occupancy_mean"])
    return figures.coverage_figure(
        [Line("Paris", series["occupancy_mean"]), Line("Pantin", series["occupancy_mean"] / 2)],
        Coverage(
            [Line("Paris", series["coverage"]), Line("Pantin", series["coverage"] * 0.8)], 0.5
        ),
        title="per commune",
        ylabel="occupancy (%)",
        caption="c",
        percent=True,
    )


def test_coverage_panel_reuses_the_series_colours_without_a_second_legend():
    fig = two_areas_figure()
    top = fig.axes[0]
    assert len(figcheck.legends(fig)) == 1 and top.get_legend() is not None
    coverage = figcheck.by_gid(fig, figures.COVERAGE_GID)
    assert [c.get_color() for c in coverage] == [ln.get_color() for ln in figcheck.lines(top)]
    plt.close(fig)


def test_the_threshold_line_never_runs_through_its_label():
    fig = two_areas_figure()
    (line,) = figcheck.by_gid(fig, figures.THRESHOLD_GID)
    (label,) = figcheck.by_gid(fig, figures.THRESHOLD_LABEL_GID)
    assert "50%" in label.get_text() and not figcheck.crossed_by(label, line)
    label.set_verticalalignment("center")  # what the check catches
    label.xyann = (3, 0)
    assert figcheck.crossed_by(label, line)
    plt.close(fig)


def test_a_wrapped_caption_never_breaks_a_date():
    text = (
        "Hours with data: Thu 12 May 12–23h, Fri 13 May 00–02h, Sat 14 May 05–23h, "
        "Sun 15 May 00h; grey: no data or under 50% of stations known; period, "
        "12 May 2022 12:15 to 15 May 2022 01:30 (Paris time). Data © Vélib' Métropole."
    )
    for width in (6, 8, 9, 10, 12):
        fig = plt.figure(figsize=(width, 3))
        figures.add_caption(fig, text)
        (caption,) = figcheck.by_gid(fig, figures.CAPTION_GID)
        shown = caption.get_text()
        assert "\n" in shown and shown.replace("\n", " ") == text
        assert figcheck.broken_dates(shown) == [], (width, shown)
        plt.close(fig)
    assert figcheck.broken_dates("to 15\nMay 2022") == ["15 / May"]  # what the check catches


def test_ranges_are_capped_at_both_ends_and_skip_missing_ones():
    fig, ax = plt.subplots()
    figures.ranges(ax, [1, 2, 3], [0.0, 50.0, np.nan], [120.0, 70.0, 80.0], color="#c44e52")
    (spans,) = ax.collections
    assert [seg[:, 1].tolist() for seg in spans.get_segments()] == [[0.0, 120.0], [50.0, 70.0]]
    (caps,) = figcheck.lines(ax)  # one cap at each end: a range, not a bar from the axis
    assert caps.get_marker() == "_"
    assert sorted(zip(caps.get_xdata(), caps.get_ydata(), strict=True)) == [
        (1.0, 0.0),
        (1.0, 120.0),
        (2.0, 50.0),
        (2.0, 70.0),
    ]
    assert figcheck.bars(ax) == []
    plt.close(fig)


def test_hatch_thin_columns_marks_each_column_over_the_full_height():
    fig, ax = plt.subplots()
    ax.bar(range(4), [1, 2, 3, 4])
    figures.hatch_thin_columns(ax, [0, 3])
    hatched = figcheck.by_gid(fig, figures.THIN_GID)
    assert len(hatched) == 2 and all(p.get_hatch() == figures.THIN_HATCH for p in hatched)
    assert figcheck.bars(ax) and len(figcheck.bars(ax)) == 4  # spans are not bars
    plt.close(fig)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (82.4, "82"),
        (1612, "1.6k"),
        (15888, "15.9k"),
        (209_027, "209k"),
        (1_234_567, "1.2M"),
        (float("nan"), ""),
    ],
)
def test_compact_count(n, text):
    assert figures.compact_count(n) == text


def test_coverage_grid_one_panel_per_area_on_one_scale_with_its_coverage():
    rows = area_rows([100, 100, 10, 10, 100, 100], value=0.3)
    index = figures.window_index(rows)
    series = figures.coverage_series(rows, index, 100, 0.5, ["occupancy_mean"])
    panels = [
        figures.Panel(name, series["occupancy_mean"] * k, series["coverage"])
        for name, k in (("Paris", 1.0), ("Pantin", 0.5), ("Montreuil", 1.5))
    ]
    polls = pd.Series(index[[0, 4]])
    fig = figures.coverage_grid(
        panels,
        title="t",
        ylabel="occupancy (%)",
        caption="c",
        min_coverage=0.5,
        reference=Line("Paris", series["occupancy_mean"], "0.7"),
        polls=polls,
        percent=True,
    )
    tops = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in tops] == ["Paris", "Pantin", "Montreuil"]
    assert len({ax.get_ylim() for ax in tops}) == 1, "one scale for every area"
    assert len(figcheck.by_gid(fig, figures.COVERAGE_GID)) == 3
    assert len(figcheck.by_gid(fig, figures.THRESHOLD_GID)) == 3
    assert len(figcheck.by_gid(fig, figures.POLLS_GID)) == 3
    assert figcheck.by_gid(fig, figures.NO_DATA_GID), "the low-coverage windows are gaps"
    assert figcheck.texts_outside(fig) == [] and figcheck.empty_axes(fig) == []
    plt.close(fig)


def test_each_concept_has_a_colour_of_its_own():
    by_colour: dict[str, list[str]] = {}
    for concept, colour in figures.COLORS.items():
        by_colour.setdefault(colour.lower(), []).append(concept)
    assert {c: names for c, names in by_colour.items() if len(names) > 1} == {}


def test_notebooks_take_their_colours_from_the_one_palette():
    """A hex colour written in a notebook is a concept's second colour (07 had its own blue)."""
    root = Path(__file__).resolve().parents[3]
    literal = re.compile(r"#[0-9a-fA-F]{6}\b")
    found = {
        path.name: literal.findall(path.read_text(encoding="utf-8"))
        for path in sorted((root / "analysis").glob("*.py"))
    }
    assert {name: colours for name, colours in found.items() if colours} == {}
    assert (root / "analysis" / "07-forecast.py").is_file()  # the glob found the notebooks
