"""Intervals and the ranking rule: a station known 6 h never outranks one known 300 h unasked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.record import placeholder_code
from pipeline.research import stats


def test_wilson_interval_matches_the_textbook_values():
    # Wilson (1927) / Newcombe (1998) table: 81 of 263 -> 0.2553 to 0.3662.
    low, high = stats.wilson_interval(81, 263)
    assert (float(low), float(high)) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_wilson_interval_stays_open_at_0_and_100_percent_and_narrows_with_n():
    low, high = stats.wilson_interval([6, 300, 0], [6, 300, 6])
    assert high[0] == 1 and 0.55 < low[0] < 0.65  # 6 of 6: far from certain
    assert low[1] > 0.98  # 300 of 300: nearly certain
    assert low[2] == 0 and 0.35 < high[2] < 0.45  # 0 of 6 is not "never"
    nan_low, nan_high = stats.wilson_interval(0, 0)
    assert np.isnan(nan_low) and np.isnan(nan_high)


def test_share_interval_counts_one_observation_per_hour():
    low, high = stats.share_interval([0.5, 0.5], [4, 400])
    assert low[0] < 0.5 < high[0] and high[0] - low[0] > 5 * (high[1] - low[1])


def summary(rows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """A station_summary-like frame: code -> (hours_known, empty_share)."""
    frame = pd.DataFrame(
        [{"station_code": c, "hours_known": h, "empty_share": s} for c, (h, s) in rows.items()]
    )
    return frame.set_index("station_code")


def test_rank_orders_by_the_lower_end_and_states_the_interval():
    per_station = summary({"short": (6, 1.0), "long": (300, 0.85), "mid": (40, 0.9)})
    ranked = stats.rank(per_station, "empty_share", min_hours=6)
    assert list(ranked.index) == ["long", "mid", "short"]
    assert (ranked["low"] <= ranked["empty_share"]).all()
    assert (ranked["empty_share"] <= ranked["high"]).all()


def test_rank_keeps_only_stations_known_long_enough_and_never_a_placeholder():
    ghost = placeholder_code(210753033)
    per_station = summary({"16107": (5.9, 1.0), ghost: (300, 1.0), "16108": (6, 0.2)})
    in_service = pd.Series({"16107": True, ghost: True, "16108": False})
    assert list(stats.rank(per_station, "empty_share", min_hours=6).index) == ["16108"]
    assert stats.rank(per_station, "empty_share", min_hours=6, eligible=in_service).empty


def test_bootstrap_share_is_weighted_by_hours_and_repeatable():
    share = pd.Series([0.0, 0.1, 0.2, 0.9, 0.05, 0.05])
    hours = pd.Series([10.0, 10.0, 10.0, 1.0, 50.0, 50.0])
    groups = pd.Series([1, 1, 1, 1, 2, 2])
    out = stats.bootstrap_share(share, hours, groups)
    assert list(out.index) == [1, 2] and list(out["stations"]) == [4, 2]
    assert out.loc[1, "share"] == pytest.approx((0 + 1 + 2 + 0.9) / 31)
    assert out.loc[1, "low"] < out.loc[1, "share"] < out.loc[1, "high"]
    assert out.loc[2, "low"] == out.loc[2, "high"] == pytest.approx(0.05)  # no spread, no width
    pd.testing.assert_frame_equal(out, stats.bootstrap_share(share, hours, groups))


def test_poisson_interval_is_close_to_the_exact_one():
    # the exact (Garwood) 95 % intervals of 0, 1, 10 and 100 events
    exact = {0: (0.0, 3.689), 1: (0.0253, 5.572), 10: (4.795, 18.39), 100: (81.36, 121.63)}
    low, high = stats.poisson_interval(list(exact))
    for k, (lo, hi) in zip(exact.values(), zip(low, high, strict=True), strict=True):
        assert lo == pytest.approx(k[0], abs=0.015, rel=0.01)
        assert hi == pytest.approx(k[1], rel=0.01)
