"""Episode extraction on hand-made alert rows: boundaries, censoring, order independence."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.research import episodes

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
    assert table.loc["empty", "median_minutes"] == pytest.approx((45 + 30) / 2)
    assert table.loc["empty", "censored_share"] == pytest.approx(0.5)
    assert table.loc["full", "complete"] == 0
    assert pd.isna(table.loc["full", "median_minutes"])


def test_no_alerts_no_episodes():
    empty = episodes.episodes(pd.DataFrame(columns=list(ROWS[0])), END)
    assert empty.empty and list(empty.columns) == list(episodes.COLUMNS)
