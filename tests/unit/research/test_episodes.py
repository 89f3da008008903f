"""Episode extraction on hand-made alert rows and poll sequences: bounds, censoring, order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.research import episodes, observation

T0 = pd.Timestamp("2022-05-12T10:00:00Z")
END = T0 + pd.Timedelta(hours=10)


def alert(code: str, minutes: float, kind: str, previous: str | None, condition: str) -> dict:
    return {
        "station_code": code,
        "alert": kind,
        "previous": previous,
        "condition": condition,
        "at": T0 + pd.Timedelta(minutes=minutes),
        "bikes_available": 0,
        "docks_available": 10,
        "commune": "Paris",
        "arrondissement": 11,
    }


ROWS = [
    # A: normal -> empty for 45 min -> normal: one complete episode.
    alert("A", 30, "empty", "normal", "empty"),
    alert("A", 75, "normal", "empty", "normal"),
    # B: first record already empty (left-censored), then full, then stale (right-censored).
    alert("B", 0, "empty", None, "empty"),
    alert("B", 20, "full", "empty", "full"),
    alert("B", 200, "stale", "full", "stale"),
    alert("B", 300, "back", "stale", "normal"),
    # C: back after being unknown, already empty, still empty when the data ends.
    alert("C", 500, "back", "stale", "empty"),
    # D: empty, then out of service (which ends the empty episode), after the data end too.
    alert("D", 100, "empty", "normal", "empty"),
    alert("D", 130, "out_of_service", "empty", "out_of_service"),
    alert("D", 700, "empty", "out_of_service", "empty"),
]


@pytest.fixture
def found() -> pd.DataFrame:
    return episodes.episodes(pd.DataFrame(ROWS), END)


def test_episodes_run_to_the_next_alert_whatever_it_is(found):
    by = {(r.station_code, r.condition, r.start): r for r in found.itertuples()}
    a = by[("A", "empty", T0 + pd.Timedelta(minutes=30))]
    assert (a.minutes, a.ended_by, a.complete) == (45, "normal", True)
    d = by[("D", "empty", T0 + pd.Timedelta(minutes=100))]
    assert (d.minutes, d.ended_by, d.complete) == (30, "out_of_service", True)
    b_full = by[("B", "full", T0 + pd.Timedelta(minutes=20))]
    assert (b_full.minutes, b_full.ended_by) == (180, "stale")


def test_censoring(found):
    flags = {
        (r.station_code, r.condition): (r.left_censored, r.right_censored, r.complete)
        for r in found.itertuples()
    }
    assert flags[("B", "empty")] == (True, False, False)  # first record: began earlier?
    assert flags[("B", "full")] == (False, True, False)  # cut by stale
    assert flags[("C", "empty")] == (True, True, False)  # back, then the data ends
    c = found[found["station_code"] == "C"].iloc[0]
    assert c["end"] == END and c["ended_by"] is None and c["minutes"] == 100


def test_only_empty_and_full_before_the_end(found):
    assert set(found["condition"]) == {"empty", "full"}
    assert len(found) == 5  # D's empty after the data end is not an episode of this data
    assert list(found.columns) == list(episodes.COLUMNS)
    assert found["start"].is_monotonic_increasing


def test_order_of_the_rows_does_not_matter(found):
    shuffled = pd.DataFrame(ROWS).sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(episodes.episodes(shuffled, END), found)


def test_summary_takes_durations_from_complete_episodes_only(found):
    table = episodes.summary(found)
    assert table.loc["empty", "episodes"] == 4 and table.loc["empty", "complete"] == 2
    assert table.loc["empty", "censored_share"] == pytest.approx(0.5)
    assert table.loc["full", "complete"] == 0
    assert pd.isna(table.loc["full", "lower_median"])
    assert pd.isna(table.loc["empty", "upper_median"])  # these alerts carry no poll times


def test_no_alerts_no_episodes():
    empty = episodes.episodes(pd.DataFrame(columns=list(ROWS[0])), END)
    assert empty.empty and list(empty.columns) == list(episodes.COLUMNS)


# --- bounds from what the polls saw ----------------------------------------------------


def alerts_from_polls(polls: list[tuple[float, dict[str, str]]]) -> pd.DataFrame:
    """The alerts the stream writes for a hand-written poll sequence.

    Each poll is (minutes after T0, {station: condition it saw}); a station
    left out of a poll was not listed by it. A station's alert is written at
    the first poll that sees a new condition, with ``seen_before_at`` its last
    poll before (``pipeline/stream/observation.py``).
    """
    state: dict[str, tuple[str, pd.Timestamp]] = {}
    rows = []
    for minutes, seen in polls:
        at = T0 + pd.Timedelta(minutes=minutes)
        for code, condition in seen.items():
            before = state.get(code)
            if before is None or before[0] != condition:
                row = alert(code, minutes, condition, before[0] if before else None, condition)
                row["seen_before_at"] = before[1] if before else pd.NaT
                rows.append(row)
            state[code] = (condition, at)
    frame = pd.DataFrame(rows)
    frame["seen_before_at"] = pd.to_datetime(frame["seen_before_at"], utc=True)
    return frame


def polls_table(polls: list[tuple[float, dict[str, str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "observed_at": [T0 + pd.Timedelta(minutes=m) for m, _ in polls],
            "ok": True,
            "listed": [sorted(seen) for _, seen in polls],
        }
    )


def bounds(found: pd.DataFrame, code: str, condition: str) -> tuple:
    (row,) = found[(found["station_code"] == code) & (found["condition"] == condition)].itertuples()
    return row.lower_minutes, row.minutes, row.upper_minutes


N, E, F = "normal", "empty", "full"
SEQUENCE = [
    (0, {"A": N, "B": N, "C": N, "D": N}),
    (30, {"A": N, "B": E, "C": E, "D": N}),
    (60, {"B": E, "C": E, "D": N}),  # A not listed by this poll
    # no poll for 60 minutes: A goes empty in the gap; C goes normal, then full (hidden)
    (120, {"A": E, "B": E, "C": F, "D": N}),
    (150, {"A": E, "C": F, "D": N}),  # B missing from this poll
    (180, {"A": N, "B": N, "C": N, "D": N}),
]


@pytest.fixture
def observed() -> pd.DataFrame:
    seen = observation.sightings(polls_table(SEQUENCE))
    return episodes.episodes(
        alerts_from_polls(SEQUENCE), END, last_seen=observation.last_seen(seen)
    )


def test_a_change_seen_after_a_gap_has_the_gap_in_its_bounds(observed):
    # A: last seen normal at 30 (missing at 60), first seen empty at 120, last at 150, out at 180
    a = observed[observed["station_code"] == "A"].iloc[0]
    assert a["start_after"] == T0 + pd.Timedelta(minutes=30)
    assert a["start"] == T0 + pd.Timedelta(minutes=120)
    assert a["end_after"] == T0 + pd.Timedelta(minutes=150)
    assert a["end"] == T0 + pd.Timedelta(minutes=180)
    assert bounds(observed, "A", E) == (30, 60, 150)
    assert a["complete"]


def test_a_station_missing_from_one_poll_widens_the_end_it_straddles(observed):
    # B: empty from 30, seen empty at 60 and 120, not listed at 150, normal at 180
    assert bounds(observed, "B", E) == (120 - 30, 150, 180 - 0)


def test_two_changes_between_polls_show_as_one(observed):
    # C went empty -> normal -> full between 60 and 120: one alert (full) at 120, so the
    # empty episode's end and the full one's start share the interval (60, 120].
    c_empty, c_full = (observed[(observed["station_code"] == "C")].iloc[i] for i in (0, 1))
    assert c_empty["end_after"] == c_full["start_after"] == T0 + pd.Timedelta(minutes=60)
    assert c_empty["end"] == c_full["start"] == T0 + pd.Timedelta(minutes=120)
    assert bounds(observed, "C", E) == (30, 90, 120)
    assert bounds(observed, "C", F) == (30, 60, 120)
    assert len(observed) == 4 and "D" not in set(observed["station_code"])


def test_an_episode_seen_by_one_poll_has_a_lower_bound_of_zero():
    seq = [(0, {"A": N}), (30, {"A": E}), (60, {"A": N})]
    found = episodes.episodes(alerts_from_polls(seq), END)
    assert bounds(found, "A", E) == (0, 30, 60)
    assert episodes.summary(found).loc["empty", "one_poll_share"] == 1.0


def test_an_episode_running_at_the_end_has_only_a_lower_bound_to_its_last_sighting():
    seq = [(0, {"A": N}), (30, {"A": E}), (60, {"A": E}), (90, {})]
    seen = observation.sightings(polls_table(seq))
    found = episodes.episodes(alerts_from_polls(seq), END, last_seen=observation.last_seen(seen))
    (row,) = found.itertuples()
    assert row.right_censored and not row.complete
    assert row.lower_minutes == 30 and pd.isna(row.upper_minutes)


def test_start_hours_spread_each_start_over_its_interval_and_sum_to_one(observed):
    weights = episodes.start_hours(observed)
    assert list(weights.columns) == list(range(24))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # A started in (10:30, 12:00] UTC = (12:30, 14:00] Paris: a third in 12h, two in 13h
    a = weights.loc[observed.index[observed["station_code"] == "A"][0]]
    assert a[12] == pytest.approx(1 / 3) and a[13] == pytest.approx(2 / 3)
    # a left-censored start (first record, or back) and one without a poll before: not spread
    first = [(0, {"A": E}), (30, {"A": N})]
    assert episodes.start_hours(episodes.episodes(alerts_from_polls(first), END)).empty
    assert episodes.start_hours(episodes.episodes(pd.DataFrame(ROWS), END)).empty


def test_weighted_median():
    values = pd.Series([10.0, 20.0, 30.0, float("nan")])
    assert episodes.weighted_median(values, pd.Series([1.0, 1.0, 1.0, 5.0])) == 20.0
    assert episodes.weighted_median(values, pd.Series([0.2, 0.2, 1.0, 1.0])) == 30.0
    assert np.isnan(episodes.weighted_median(values, pd.Series([0.0, 0.0, 0.0, 1.0])))


# --- episodes read off the polls (any resolution) ----------------------------------------


def sighting(code: str, poll: int, minutes: float, condition: str) -> dict:
    return {
        "station_code": code,
        "seen_at": T0 + pd.Timedelta(minutes=minutes),
        "poll": poll,
        "condition": condition,
    }


SIGHTINGS = [
    # A, polled every 5 minutes: normal, empty at 10 and 15, normal at 20: a complete
    # episode that lasted at least 5 and at most 15 minutes.
    *(sighting("A", k, 5 * k, c) for k, c in enumerate("nneen")),
    # B: full from its first sighting (left-censored), then missed by poll 2 (not listed):
    # not under observation from 5 to 15, so the full run ends censored there, and a new
    # one opens left-censored at 15 and runs to the last sighting (right-censored).
    sighting("B", 0, 0, "full"),
    sighting("B", 1, 5, "full"),
    sighting("B", 3, 15, "full"),
    sighting("B", 4, 20, "full"),
    # C: empty at one poll only, between two normal ones 5 minutes apart: lower bound 0.
    *(sighting("C", k, 5 * k, c) for k, c in ((2, "normal"), (3, "empty"), (4, "normal"))),
]
STATES = pd.DataFrame(SIGHTINGS).assign(
    condition=lambda f: f["condition"].map({"n": "normal", "e": "empty"}).fillna(f["condition"])
)


def test_episodes_from_sightings_have_bounds_and_censoring():
    found, spans = episodes.from_sightings(STATES, max_gap_minutes=60)
    rows = {(r.station_code, r.start.value): r for r in found.itertuples()}
    a = rows[("A", (T0 + pd.Timedelta(minutes=10)).value)]
    assert (a.condition, a.lower_minutes, a.upper_minutes, a.complete) == ("empty", 5, 15, True)
    assert a.start_after == T0 + pd.Timedelta(minutes=5) and a.end == T0 + pd.Timedelta(minutes=20)
    c = found[found["station_code"] == "C"].iloc[0]
    assert (c["lower_minutes"], c["upper_minutes"], c["complete"]) == (0, 10, True)
    b = found[found["station_code"] == "B"]
    assert list(zip(b["left_censored"], b["right_censored"], strict=True)) == [
        (True, True),  # from the first sighting, cut by poll 2 that missed it
        (True, True),  # after the miss, to the last sighting
    ]
    assert b["upper_minutes"].isna().all() and list(b["lower_minutes"]) == [5, 5]
    assert set(found["condition"]) == {"empty", "full"}
    # under observation: A's 4 spans, B's 0-5 and 15-20, C's 2
    assert len(spans) == 4 + 2 + 2
    assert observation.station_hours(spans).sum() == pytest.approx((20 + 10 + 10) / 60)


def test_a_span_longer_than_the_stale_rule_is_not_under_observation():
    night = STATES[STATES["station_code"] == "A"].copy()
    night.loc[night.index[2:], "seen_at"] += pd.Timedelta(hours=12)  # an unpolled night
    found, spans = episodes.from_sightings(night, max_gap_minutes=120)
    (empty,) = found.itertuples()
    assert empty.left_censored and not empty.right_censored and not empty.complete
    assert len(spans) == 3  # the night between polls 1 and 2 is not observed


def test_conditions_at_polls_are_the_records_in_force():
    polls = pd.DataFrame(
        {
            "observed_at": [T0, T0 + pd.Timedelta(minutes=5), T0 + pd.Timedelta(minutes=10)],
            "ok": [True, False, True],
            "listed": [["A", "B"], [], ["A"]],
        }
    )
    status = pd.DataFrame(
        {
            "station_code": ["A", "B", "A"],
            "observed_at": [T0, T0, T0 + pd.Timedelta(minutes=10)],
            "bikes_available": [3, 0, 0],
            "docks_available": [0, 5, 9],
            "is_installed": [True, True, True],
            "is_renting": [True, False, True],
            "is_returning": [True, False, True],
        }
    )
    states = episodes.sighted(status, polls)
    assert list(zip(states["station_code"], states["poll"], states["condition"], strict=True)) == [
        ("A", 0, "full"),
        ("A", 1, "empty"),  # the failed poll is no poll: the next ok one is number 1
        ("B", 0, "out_of_service"),  # out of service wins over empty
    ]


def test_thinned_polls_are_at_least_the_step_apart():
    times = [T0 + pd.Timedelta(minutes=m) for m in (0, 5, 10, 30, 55, 60, 65, 125)]
    polls = pd.DataFrame({"observed_at": times, "ok": [True] * 7 + [False], "listed": [[]] * 8})
    kept = episodes.thinned(polls, 60)["observed_at"]
    assert list(kept) == [T0, T0 + pd.Timedelta(minutes=60)]
