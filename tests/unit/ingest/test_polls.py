"""The poll log of ingest on hand-written snapshot sequences: listed, disappeared, not ok."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline import poll
from pipeline.ingest.polls import PollLog
from pipeline.record import StationRecord
from pipeline.sources.normalize import Rejection
from pipeline.sources.parsers import failed_snapshot
from pipeline.sources.recorded import Snapshot, read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"
T0 = datetime(2022, 5, 12, 12, 0, tzinfo=UTC)
REAL = next(r for s in read_recorded(FIX / "history") for r in s.records)


def station(code: str, at: datetime) -> StationRecord:
    return REAL.replace(station_code=code, observed_at=at, last_reported=at)


def snap(minutes: float, *codes: str, source: str = "replay:opendata-csv") -> Snapshot:
    at = T0 + timedelta(minutes=minutes)
    return Snapshot(at, source, f"file@{minutes}", [station(c, at) for c in codes], [])


def test_a_station_missing_from_one_poll_disappeared_then_is_listed_again() -> None:
    log = PollLog()
    polls = [
        log.record(s, emitted=n, rejected=0)
        for s, n in (
            (snap(0, "B", "A", "C"), 3),
            (snap(49, "A", "C"), 1),
            (snap(98, "C", "A", "B"), 2),
        )
    ]
    assert [p.listed for p in polls] == [("A", "B", "C"), ("A", "C"), ("A", "B", "C")]
    assert [p.disappeared for p in polls] == [(), ("B",), ()]
    assert [p.stations for p in polls] == [3, 2, 3]
    assert [p.emitted for p in polls] == [3, 1, 2]
    assert all(p.ok and p.reason is None for p in polls)
    assert polls[1].observed_at == T0 + timedelta(minutes=49) and polls[1].origin == "file@49"


def test_each_source_has_its_own_previous_listing() -> None:
    log = PollLog()
    log.record(snap(0, "A", "B", source="gbfs"), emitted=2, rejected=0)
    other = log.record(snap(1, "A", source="opendata"), emitted=1, rejected=0)
    assert other.disappeared == ()  # B was listed by gbfs, not by opendata's previous poll
    again = log.record(snap(2, "A", source="gbfs"), emitted=0, rejected=0)
    assert again.disappeared == ("B",)


def test_a_live_answer_of_the_snapshot_already_logged_is_a_reread_not_a_poll() -> None:
    # A feed polled faster than it refreshes answers the same feed time again: no new
    # snapshot, so no poll message (the stream would only reject it as repeated).
    log = PollLog()
    first = log.record(snap(0, "A", "B", source="gbfs"), emitted=2, rejected=0)
    again = log.record(snap(0, "A", "B", source="gbfs"), emitted=0, rejected=0)
    other = log.record(snap(0, "A", source="opendata"), emitted=1, rejected=0)
    later = log.record(snap(1, "A", source="gbfs"), emitted=0, rejected=0)
    assert first is not None and again is None and log.rereads == 1
    assert other is not None  # the same instant from another source is its own snapshot
    assert later is not None and later.disappeared == ("B",)


def test_a_failed_poll_is_a_poll_with_its_reason_and_lists_nothing() -> None:
    log = PollLog()
    log.record(snap(0, "A", "B"), emitted=2, rejected=0)
    at = T0 + timedelta(minutes=1)
    failed = failed_snapshot("GET x answered HTTP 502", "<html>", "http://x", at, "gbfs", at)
    got = log.record(failed, emitted=0, rejected=1)
    assert (got.ok, got.reason, got.stations, got.listed, got.disappeared) == (
        False,
        "GET x answered HTTP 502",
        0,
        (),
        (),
    )
    assert got.polled_at == at and got.rejected == 1 and got.source == "gbfs"
    # the next ok poll compares with the last ok poll, not with the failure
    assert log.record(snap(2, "A"), emitted=0, rejected=0).disappeared == ("B",)


def test_a_snapshot_with_only_rejected_rows_is_not_ok() -> None:
    bad = Snapshot(T0, "replay:opendata-csv", "f.csv", [], [Rejection("negative", {}, "f.csv")] * 3)
    got = PollLog().record(bad, emitted=0, rejected=3)
    assert not got.ok and got.reason == "no valid station record (3 rows rejected: negative)"


def test_a_stale_snapshot_is_not_ok_and_changes_no_listing() -> None:
    log = PollLog()
    log.record(snap(10, "A", "B"), emitted=2, rejected=0)
    reason = "stale snapshot: feed time 12:05 is older than 12:10 already read"
    stale = log.record(snap(5, "A"), emitted=0, rejected=1, stale=reason)
    assert (stale.ok, stale.reason, stale.stations, stale.listed, stale.disappeared) == (
        False,
        reason,
        1,
        (),
        (),
    )
    assert log.record(snap(20, "A", "B"), emitted=0, rejected=0).disappeared == ()


def test_the_times_of_a_live_poll_come_with_the_snapshot() -> None:
    s = snap(0, "A", source="gbfs")
    s.polled_at, s.feed_time = T0 + timedelta(seconds=42), T0
    got = PollLog().record(s, emitted=1, rejected=0)
    assert (got.observed_at, got.polled_at, got.feed_time) == (T0, s.polled_at, T0)
    assert (got.key, poll.from_json(poll.to_json(got))) == ("gbfs", got)


def test_after_a_restart_a_poll_already_on_the_topic_is_not_sent_again() -> None:
    before = PollLog()
    first = before.record(snap(0, "A", "B"), emitted=2, rejected=0)
    resumed = PollLog()  # what restore() leaves after reading `first` back from the topic
    resumed.remember_sent([poll.to_json(first)])
    assert resumed.record(snap(0, "A", "B"), emitted=0, rejected=0) is None
    nxt = resumed.record(snap(49, "A"), emitted=1, rejected=0)
    assert nxt is not None and nxt.disappeared == ("B",)


def test_after_a_restart_a_lost_poll_counts_the_records_already_emitted() -> None:
    # the crash came after 2 of the snapshot's records reached the status topic, before its poll
    log = PollLog()
    log.emitted_before = {("replay:opendata-csv", T0): 2}
    got = log.record(snap(0, "A", "B", "C"), emitted=1, rejected=0)
    assert got.emitted == 3
    assert log.emitted_before == {}  # counted once only
    assert log.record(snap(0, "A", "B", "C"), emitted=0, rejected=0) is None  # a re-read


def test_an_answer_at_the_same_feed_time_that_emitted_records_is_a_poll() -> None:
    # The station list changed while the status clock did not: the records it emitted
    # are on the status topic, so a poll message must account for them.
    log = PollLog()
    log.record(snap(0, "A", "B", source="gbfs"), emitted=2, rejected=0)
    changed = log.record(snap(0, "A", "B", "C", source="gbfs"), emitted=1, rejected=0)
    assert changed is not None and changed.emitted == 1 and log.rereads == 0
    assert changed.listed == ("A", "B", "C")


def test_a_recorded_answer_the_source_had_not_refreshed_is_a_reread_by_its_kind() -> None:
    # sources.sequence judged it (byte-identical, or every count as before): it observed
    # nothing, so it sends no poll and leaves the listing as the last poll left it.
    log = PollLog()
    log.record(snap(0, "A", "B"), emitted=2, rejected=0)
    kinds = ("identical", "frozen", "frozen")
    for minutes, kind in zip((5, 10, 15), kinds, strict=True):
        again = snap(minutes, "A")
        again.reread = kind
        assert log.record(again, emitted=0, rejected=0) is None
    assert log.rereads == 3 and log.reread_kinds == {"identical": 1, "frozen": 2}
    later = log.record(snap(20, "A", "B"), emitted=1, rejected=0)
    assert later is not None and later.disappeared == ()  # the re-reads listed nothing


def test_a_live_reread_is_counted_by_its_kind_too() -> None:
    log = PollLog()
    log.record(snap(0, "A", source="gbfs"), emitted=1, rejected=0)
    assert log.record(snap(0, "A", source="gbfs"), emitted=0, rejected=0) is None
    assert log.reread_kinds == {"same_feed_time": 1}


def test_a_broken_answer_is_a_poll_that_observed_no_station() -> None:
    # a real broken answer (4 Nov 2024 10:00 Paris, trimmed): counts without station codes
    broken = next(
        s
        for s in read_recorded(FIX / "opendata-5min")
        if s.origin.endswith("velib_data_20241104_100002.json.gz")
    )
    log = PollLog()
    log.record(snap(0, "A", "B", source=broken.source), emitted=2, rejected=0)
    got = log.record(broken, emitted=0, rejected=len(broken.rejects))
    assert (got.ok, got.stations, got.listed, got.disappeared, got.rejected) == (
        False,
        0,
        (),
        (),
        211,
    )
    assert got.reason == "no valid station record (211 rows rejected: missing station code)"
    assert log.rereads == 0


def polled(s: Snapshot, seconds: float) -> Snapshot:
    """The snapshot as a live poll made ``seconds`` after T0 (wall time) saw it."""
    s.polled_at = T0 + timedelta(days=1, seconds=seconds)
    return s


def resumed_from(sent: list[poll.Poll], emitted_before: dict | None = None) -> PollLog:
    """What restore() leaves after reading ``sent`` back from the topic."""
    log = PollLog()
    log.emitted_before = dict(emitted_before or {})
    log.remember_sent(poll.to_json(p) for p in sent)
    return log


def test_after_a_restart_a_stale_answer_at_a_feed_time_on_the_topic_is_still_a_poll() -> None:
    # The soak's case: the killed run logged feed times 0 and 5; the restart read its
    # newest archived poll (5) again, then the feed answered from a cache (time 0).
    # That answer is a poll of its own, as in one uninterrupted run (and in its replay).
    answers = [
        polled(snap(0, "A", "B", source="gbfs"), 0),
        polled(snap(5, "A", "B", source="gbfs"), 40),
        polled(snap(0, "A", "B", source="gbfs"), 80),  # the stale answer
    ]
    stale = "stale snapshot: feed time 12:00 is older than 12:05 already read"
    once = PollLog()
    clean = [
        once.record(answers[0], emitted=2, rejected=0),
        once.record(answers[1], emitted=1, rejected=0),
        once.record(answers[2], emitted=0, rejected=1, stale=stale),
    ]
    resumed = resumed_from(clean[:2])
    assert resumed.record(answers[1], emitted=0, rejected=0) is None  # already on the topic
    again = resumed.record(answers[2], emitted=0, rejected=1, stale=stale)
    assert again is not None and not again.ok and again == clean[2]


def test_after_a_restart_the_resume_points_records_count_in_its_poll_only() -> None:
    # The poll of feed time 5 is on the topic with its 2 records; after the restart the
    # feed answers time 5 again listing a new station C (information changed): that
    # answer's poll counts its own record, as in one uninterrupted run.
    answers = [
        polled(snap(5, "A", "B", source="gbfs"), 0),
        polled(snap(5, "A", "B", "C", source="gbfs"), 40),
    ]
    once = PollLog()
    clean = [
        once.record(answers[0], emitted=2, rejected=0),
        once.record(answers[1], emitted=1, rejected=0),
    ]
    resumed = resumed_from(clean[:1], {("gbfs", answers[0].observed_at): 2})
    assert resumed.record(answers[0], emitted=0, rejected=0) is None
    assert resumed.emitted_before == {}
    assert resumed.record(answers[1], emitted=1, rejected=0) == clean[1]
