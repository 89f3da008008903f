"""The feed clock: a restart skips what the topic holds; a feed going backwards is stale."""

from __future__ import annotations

from datetime import timedelta

from pipeline.ingest.resume import FeedClock
from tests.unit.ingest.test_job import T0, snap


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
