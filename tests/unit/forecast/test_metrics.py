"""Metrics on hand-computed cases: Brier, coverage, alarms, errors, skill, reliability."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.forecast import metrics


def s(*values: float | None) -> pd.Series:
    return pd.Series(values, dtype="float64")


def test_brier_by_hand_and_missing_rows_ignored():
    y, p = s(1, 0, 0, 1, None), s(0.9, 0.2, 0.0, 0.5, 0.3)
    assert metrics.brier(y, p) == pytest.approx((0.01 + 0.04 + 0 + 0.25) / 4)
    assert math.isnan(metrics.brier(s(None), s(0.5)))


def test_coverage_is_inclusive_and_splits_misses_below_and_above():
    got = metrics.coverage(s(1, 5, 10, 3), s(0, 5, 11, 0), s(2, 6, 12, 2))
    assert got == {"coverage": 0.5, "below": 0.25, "above": 0.25, "width": 1.5}


def test_errors_by_hand():
    got = metrics.errors(s(2, 4, 6, None), s(3, 2, 6, 1))
    assert got["n"] == 3
    assert got["mae"] == pytest.approx(1.0)
    assert got["rmse"] == pytest.approx(math.sqrt(5 / 3))


def test_alarm_precision_and_recall():
    # events at rows 0, 1, 4; alarms (p >= 0.5) at rows 0, 2, 4 -> 2 hits
    got = metrics.alarm(s(1, 1, 0, 0, 1), s(0.9, 0.1, 0.6, 0.2, 0.5))
    assert got == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3)}
    assert math.isnan(metrics.alarm(s(1, 0), s(0.1, 0.2))["precision"])  # no alarm raised


def test_skill_against_a_baseline():
    assert metrics.skill(0.8, 1.0) == pytest.approx(0.2)
    assert metrics.skill(1.2, 1.0) == pytest.approx(-0.2)
    assert math.isnan(metrics.skill(1.0, 0.0))


def test_reliability_bins_forecasts_and_counts_outcomes():
    table = metrics.reliability(s(0, 0, 1, 1, 1), s(0.05, 0.15, 0.12, 0.95, 1.0))
    assert list(table.index) == ["0.0-0.1", "0.1-0.2", "0.9-1.0"]
    assert table.loc["0.1-0.2", "n"] == 2
    assert table.loc["0.1-0.2", "y_mean"] == pytest.approx(0.5)
    assert table.loc["0.9-1.0", "p_mean"] == pytest.approx(0.975)


def test_pinball_loss_by_hand_and_its_median_is_half_the_absolute_error():
    y, q = s(10, 10, 10, None), s(8, 10, 13, 5)
    got = metrics.pinball(y, q, 0.9)
    # above the quantile: 0.9 * 2; on it: 0; below: 0.1 * 3; missing outcome: NaN
    assert got.tolist()[:3] == pytest.approx([1.8, 0.0, 0.3])
    assert math.isnan(got.iloc[3])
    assert metrics.pinball(y, q, 0.5).tolist()[:3] == pytest.approx([1.0, 0.0, 1.5])


def test_the_resolution_log_line_says_shares_and_leads_in_words() -> None:
    from pipeline.forecast.evaluate import resolution_line

    line = resolution_line(
        {"same_obs_h15_h30": 0.82, "same_obs_h15_h60": None, "lead_median_min": {15: 44.0}}
    )
    assert "+15 and +30 min: 82%" in line and "+15 and +60 min: n/a" in line
    assert "+15 min 44 min" in line and "{" not in line
