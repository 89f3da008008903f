"""The poll log as the notebooks read it: resolution, sightings, observed time, hour spreading."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from pipeline.research import observation

T0 = pd.Timestamp("2022-05-12T10:00:00Z")  # 12:00 in Paris (CEST)


def poll(minutes: float, listed: tuple[str, ...] = ("A", "B"), ok: bool = True, source="opendata"):
    return {
        "source": source,
        "observed_at": T0 + pd.Timedelta(minutes=minutes),
        "ok": ok,
        "listed": np.array(listed if ok else (), dtype=object),
    }


# polls at 0, 30, 80, 200 min; a failed poll at 100; a second source at 80 (one observation)
POLLS = pd.DataFrame(
    [
        poll(0),
        poll(30, ("A",)),
        poll(80),
        poll(80, ("A", "B"), source="gbfs"),
        poll(100, ok=False),
        poll(200, ("B",)),
    ]
)


def test_resolution_counts_ok_observations_and_their_gaps():
    res = observation.resolution(POLLS)
    assert res.polls == 4  # the failed poll saw nothing; two sources at one instant are one
    assert list(observation.gaps_minutes(POLLS)) == [30.0, 50.0, 120.0]
    assert (res.gap_median_minutes, res.gap_max_minutes) == (50.0, 120.0)
    assert res.text() == "observed by 4 polls, a median 50 min apart (longest gap 2.0 h)"
    assert res.metrics() == {"poll_gap_median_minutes": 50.0}
    assert res.summary() == {
        "polls": 4,
        "poll_gap_median_minutes": 50.0,
        "poll_gap_max_minutes": 120.0,
    }


def test_resolution_of_too_few_polls_says_so():
    assert observation.resolution(POLLS.iloc[:1]).text() == "observed by 1 poll"
    nothing = observation.resolution(POLLS.iloc[4:5])
    assert nothing.polls == 0 and nothing.text() == "no poll observed"
    assert np.isnan(nothing.gap_median_minutes)


def test_caption_states_the_resolution_with_the_period():
    res = observation.resolution(POLLS)
    text = observation.caption(T0, T0 + pd.Timedelta(hours=4), "Occupancy", res)
    assert text.startswith("Occupancy; observed by 4 polls, a median 50 min apart")
    assert "12 May 2022 12:00 to 16:00 (Paris time)" in text


def test_polls_per_paris_hour():
    per_hour = observation.polls_per_hour(POLLS)
    assert list(per_hour.index) == list(range(24))
    assert per_hour[12] == 2 and per_hour[13] == 1 and per_hour[15] == 1
    assert per_hour.sum() == 4 and per_hour[3] == 0


def test_sightings_are_the_stations_each_ok_poll_listed():
    seen = observation.sightings(POLLS)
    minutes = {
        code: [(t - T0).total_seconds() / 60 for t in mine["seen_at"]]
        for code, mine in seen.groupby("station_code")
    }
    assert minutes == {"A": [0, 30, 80], "B": [0, 80, 200]}  # B missing from the 30-min poll
    assert observation.last_seen(seen)["A"] == T0 + pd.Timedelta(minutes=80)


def test_observed_intervals_pair_sightings_and_drop_a_span_with_a_stale_alert():
    seen = observation.sightings(POLLS)
    spans = observation.observed_intervals(seen)
    pairs = [
        (c, (a - T0).total_seconds() / 60, (u - T0).total_seconds() / 60)
        for c, a, u in spans.itertuples(index=False)
    ]
    assert pairs == [("A", 0, 30), ("A", 30, 80), ("B", 0, 80), ("B", 80, 200)]
    stale = pd.DataFrame({"station_code": ["B"], "at": [T0 + pd.Timedelta(minutes=150)]})
    kept = observation.observed_intervals(seen, stale)
    assert len(kept) == 3 and not (kept["station_code"].eq("B") & (kept["after"] > T0)).any()


def test_a_span_longer_than_stale_after_is_not_observation():
    # B's 80 -> 200 min span (120 min) is longer than a 100-min stale_after: an
    # unpolled gap, not time under observation; the 80-min spans stay
    seen = observation.sightings(POLLS)
    kept = observation.observed_intervals(seen, longest=timedelta(minutes=100))
    lengths = sorted((kept["until"] - kept["after"]).dt.total_seconds() / 60)
    assert lengths == [30, 50, 80]
    assert len(observation.observed_intervals(seen, longest=timedelta(minutes=120))) == 4


def test_station_hours_fall_in_the_paris_hours_they_cover():
    seen = observation.sightings(POLLS)
    hours = observation.station_hours(observation.observed_intervals(seen))
    # A: 12:00-13:20 Paris; B: 12:00-15:20 Paris
    assert hours[12] == pytest.approx(2.0) and hours[13] == pytest.approx(1 / 3 + 1)
    assert hours[14] == pytest.approx(1.0) and hours[15] == pytest.approx(1 / 3)
    assert hours.sum() == pytest.approx(80 / 60 + 200 / 60)


def test_hour_spread_weighs_each_hour_by_its_share_of_the_interval():
    after = pd.Series([T0 + pd.Timedelta(minutes=40), T0, T0 + pd.Timedelta(hours=11)])
    until = pd.Series([T0 + pd.Timedelta(minutes=70), T0, T0 + pd.Timedelta(hours=14)])
    weights = observation.hour_spread(after, until)
    assert weights.shape == (3, 24)
    assert weights[0, 12] == pytest.approx(20 / 30) and weights[0, 13] == pytest.approx(10 / 30)
    assert weights[1, 12] == 1.0  # an instant counts whole in its hour
    # 23:00 to 02:00 Paris: across midnight, a third in each of 23h, 00h and 01h
    np.testing.assert_allclose(weights[2, [23, 0, 1]], 1 / 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_hour_spread_sums_to_one_for_any_interval():
    rng = np.random.default_rng(7)
    starts = T0 + pd.to_timedelta(rng.integers(0, 10**6, 500), unit="s")
    lengths = pd.to_timedelta(rng.integers(0, 3 * 86400, 500), unit="s")
    weights = observation.hour_spread(pd.Series(starts), pd.Series(starts + lengths))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights >= 0).all()


def test_duration_reads_at_a_glance():
    assert observation.duration(49.4) == "49 min"
    assert observation.duration(150) == "2.5 h"
    assert observation.duration(27 * 60 + 15) == "27 h"
