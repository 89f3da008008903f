"""The long soak's kill schedule and trend arithmetic (soak/__main__.py, soak/report.py)."""

from __future__ import annotations

import pytest

from soak import report
from soak.__main__ import kill_times, parse_args


@pytest.mark.parametrize(("days", "speed"), [(0.2, 96), (0.25, 120), (14, 120)])
def test_every_stage_is_killed_calm_end_and_kills_apart(days: float, speed: float) -> None:
    args = parse_args(["--days", str(days), "--speed", str(speed)])
    times = kill_times(args)
    assert {stage for _, stage in times} == {"ingest", "capture", "stream", "broker"}
    assert all(0.1 * args.duration <= t < 0.8 * args.duration for t, _ in times)
    gaps = [b - a for (a, _), (b, _) in zip(times, times[1:], strict=False)]
    assert min(gaps) >= min(40.0, 0.6 * args.duration / 8) - 0.2
    assert times == kill_times(args)  # seeded: the same run twice
    assert times != kill_times(parse_args(["--days", str(days), "--speed", str(speed),
                                           "--seed", "31"]))  # fmt: skip


def test_long_runs_kill_about_once_per_stage_and_simulated_day() -> None:
    args = parse_args(["--days", "14", "--speed", "120"])
    assert 4 * 14 * 0.4 <= len(kill_times(args)) <= 4 * 14 * 1.5
    assert args.interval == 0.5 and args.sample_every == 60.0  # a recorded minute: 0.5 s


def test_a_trend_is_the_slope_per_simulated_day_against_day_one() -> None:
    rows = [{"sim_day": d / 10, "rss": 100 + 5 * d / 10} for d in range(30)]  # 3 days
    t = report.trend(rows, "rss")
    assert t is not None
    assert t["slope_per_day"] == pytest.approx(5.0)
    assert t["day_one"] == pytest.approx(100 + 5 * 0.5)  # the mean over the first day
    assert t["slope_pct_of_day_one"] == pytest.approx(100 * 5 / (100 + 5 * 0.5), abs=0.01)
    flat = report.trend([{"sim_day": d, "x": 7.0} for d in range(5)], "x")
    assert flat is not None and flat["slope_per_day"] == pytest.approx(0.0, abs=1e-9)
    assert report.trend([{"sim_day": 0, "x": 1}], "x") is None  # too few samples
