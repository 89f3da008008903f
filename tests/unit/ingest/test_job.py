"""The ingest loop's pure parts: the feed clock, dead-letter rendering, emitted records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.ingest.job import FeedClock, dead_letter_key, dead_letter_value, emitted_records
from pipeline.record import StationRecord
from pipeline.sources.normalize import Rejection
from pipeline.sources.recorded import Snapshot, read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"
T0 = datetime(2022, 5, 12, 12, 0, tzinfo=UTC)
REAL = next(r for s in read_recorded(FIX / "history") for r in s.records)


def make_record(code: str, at: datetime, bikes: int | None = None) -> StationRecord:
    """A real recorded station, moved to ``at`` (and given ``bikes`` e-bikes more or less)."""
    r = REAL.replace(station_code=code, observed_at=at, last_reported=at)
    if bikes is None:
        return r
    return r.replace(
        bikes_available=bikes + r.mechanical_available,
        ebike_available=bikes,
    )


def snap(minutes: float, source: str = "gbfs", records: bool = True) -> Snapshot:
    at = T0 + timedelta(minutes=minutes)
    rows = [make_record("1001", at)] if records else []
    rejects = [] if records else [Rejection("HTTP 502", "<html>", "poll")]
    return Snapshot(at, source, f"poll@{minutes}", rows, rejects)


def test_feed_time_going_backwards_is_stale_not_a_change() -> None:
    clock = FeedClock({})
    assert [clock.place(snap(m)) for m in (0, 10, 10, 5, 20)] == [
        "ok",
        "ok",
        "ok",  # the same answer twice is fine: nothing changed
        "stale",
        "ok",
    ]


def test_stale_dead_letter_names_both_times() -> None:
    clock = FeedClock({})
    clock.place(snap(10))
    late = snap(5)
    assert clock.place(late) == "stale"
    reason = clock.stale(late).reason
    assert "2022-05-12T12:05:00Z" in reason and "2022-05-12T12:10:00Z" in reason


def test_restart_skips_what_the_topic_holds_then_guards_the_clock() -> None:
    clock = FeedClock({"gbfs": T0 + timedelta(minutes=10)})
    assert [clock.place(snap(m)) for m in (0, 5, 10, 15, 12)] == [
        "skip",
        "skip",
        "ok",  # the resume point itself: processed again, restored state makes it idempotent
        "ok",
        "stale",
    ]


def test_sources_have_their_own_clocks() -> None:
    clock = FeedClock({})
    assert clock.place(snap(10, "gbfs")) == "ok"
    assert clock.place(snap(5, "opendata")) == "ok"


def test_failed_polls_are_skipped_only_before_the_resume_point() -> None:
    clock = FeedClock({"gbfs": T0 + timedelta(minutes=10)})
    assert clock.place(snap(5, records=False)) == "skip"
    assert clock.place(snap(10)) == "ok"
    assert clock.place(snap(5, records=False)) == "ok"  # wall time of a live poll: no order


def test_dead_letter_value_carries_reason_origin_and_key() -> None:
    rejection = Rejection("negative bikes_available (-1)", {"stationCode": "16107"}, "f.json")
    value = json.loads(dead_letter_value(rejection, "gbfs", T0))
    assert value == {
        "reason": "negative bikes_available (-1)",
        "origin": "f.json",
        "source": "gbfs",
        "observed_at": "2022-05-12T12:00:00Z",
        "raw": {"stationCode": "16107"},
    }
    assert dead_letter_key(rejection.raw) == "16107"
    assert dead_letter_key("<html>") is None


def test_emitted_records_drop_repeats_and_keep_changes() -> None:
    a = make_record("1001", T0, bikes=3)
    same = make_record("1001", T0 + timedelta(minutes=1), bikes=3)
    other = make_record("1001", T0 + timedelta(minutes=2), bikes=4)
    assert emitted_records([a, same, other]) == [a, other]
