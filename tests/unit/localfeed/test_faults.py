"""Faults of the local feed against the real clients: retried, or one dead letter, never raised.

Every test serves the real 2022-05-13 fixture history (25 stations, 6 snapshots)
on loopback with the clock held, and polls with feeds.GbfsFeed / OpenDataFeed
using short timeouts and no backoff. Request numbers in the schedules count
every request the server answers: a GbfsFeed's first poll is gbfs.json (1),
station_information (2), station_status (3); with the default information
refresh, later polls are station_status only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.localfeed.faults import FAULT_KINDS, FaultPlan, parse_faults
from pipeline.localfeed.server import FeedServer
from pipeline.sources.feeds import GbfsFeed, OpenDataFeed, http_session
from pipeline.sources.parsers import Snapshot
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
HISTORY = ROOT / "tests/fixtures/history"
REPLAY = list(read_recorded(HISTORY))
CODES = {r.station_code for r in REPLAY[0].records}


def serve(**plan) -> FeedServer:
    """A held-clock feed of the fixture history with these faults (start it with `with`)."""
    return FeedServer(HISTORY, speed=0, faults=FaultPlan(**plan))


def gbfs(server: FeedServer, *, retries: int = 3, timeout_s: float = 5.0, **kw) -> GbfsFeed:
    session = http_session(retries=retries, backoff_s=0)
    return GbfsFeed(server.gbfs_base_url, session=session, timeout_s=timeout_s, **kw)


def opendata(server: FeedServer, *, retries: int = 3, **kw) -> OpenDataFeed:
    session = http_session(retries=retries, backoff_s=0)
    return OpenDataFeed(server.opendata_url, session=session, **kw)


def ok(snap: Snapshot, index: int = 0) -> bool:
    """The poll got the recorded snapshot, whole."""
    return not snap.rejects and {r.station_code for r in snap.records} == {
        r.station_code for r in REPLAY[index].records
    }


def failed(snap: Snapshot, reason: str) -> bool:
    """The poll became one dead-letter entry with this reason."""
    return snap.records == [] and len(snap.rejects) == 1 and reason in snap.rejects[0].reason


def statuses(server: FeedServer, feed: str = "station_status") -> list[tuple[int, tuple]]:
    return [(e.status, e.faults) for e in server.ledger() if e.feed == feed]


@pytest.mark.parametrize("kind", ["5xx", "429"])
def test_a_short_burst_is_retried_and_the_poll_succeeds(kind):
    with serve(schedule={3: kind}, burst=2, retry_after_s=0) as server:
        assert ok(gbfs(server, retries=3).poll())
        answers = statuses(server)
    assert [f for _, f in answers] == [(kind,), (kind,), ()]
    assert answers[-1][0] == 200
    assert all(500 <= s <= 504 for s, _ in answers[:2]) if kind == "5xx" else answers[0][0] == 429


@pytest.mark.parametrize("kind", ["5xx", "429"])
def test_a_burst_longer_than_the_retries_is_one_dead_letter_then_the_feed_recovers(kind):
    with serve(schedule={3: kind}, burst=5, retry_after_s=0) as server:
        feed = gbfs(server, retries=2)
        assert failed(feed.poll(), "answered HTTP 5" if kind == "5xx" else "answered HTTP 429")
        assert ok(feed.poll())


def test_429_carries_retry_after_and_the_client_waits_that_long():
    with serve(schedule={3: "429"}, burst=1, retry_after_s=1) as server:
        assert ok(gbfs(server).poll())
        first, retry = [e for e in server.ledger() if e.feed == "station_status"]
    assert first.status == 429 and retry.status == 200
    assert (retry.at - first.at).total_seconds() >= 1.0
    with serve(schedule={1: "429"}, burst=1, retry_after_s=7) as server:
        answer = requests.get(server.gbfs_base_url + "/station_status.json", timeout=5)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"


def test_a_slow_answer_times_out_and_the_retry_succeeds():
    with serve(schedule={3: "slow"}, burst=1, slow_s=1.0) as server:
        assert ok(gbfs(server, timeout_s=0.2).poll())
        assert [f for _, f in statuses(server)] == [("slow",), ()]
    with serve(schedule={3: "slow"}, burst=3, slow_s=1.0) as server:
        snap = gbfs(server, retries=2, timeout_s=0.2).poll()
    assert failed(snap, "GET ") and "timed out" in snap.rejects[0].reason.lower()


def test_a_slow_records_page_is_retried():
    with serve(schedule={2: "slow"}, burst=1, slow_s=1.0) as server:
        snap = opendata(server, page_size=10, timeout_s=0.2).poll()
        pages = [e.faults for e in server.ledger()]
    assert len(snap.records) == 25 and pages == [(), ("slow",), (), ()]


@pytest.mark.parametrize(
    ("kind", "reason"), [("truncated", "truncated or invalid JSON"), ("html", "HTML page")]
)
def test_a_broken_200_is_one_dead_letter_for_both_clients(kind, reason):
    with serve(schedule={3: kind}) as server:
        feed = gbfs(server)
        assert failed(feed.poll(), reason)
        assert ok(feed.poll())
    with serve(schedule={2: kind}) as server:
        feed = opendata(server, page_size=10)
        assert failed(feed.poll(), reason)
        assert len(feed.poll().records) == 25


def test_station_information_changes_mid_run_a_station_added_removed_renamed():
    with serve(schedule={4: "info_change"}) as server:
        feed = gbfs(server, info_refresh_s=0)
        held = server.faults.held_back
        before = {r.station_code: r for r in feed.poll().records}
        after = {r.station_code: r for r in feed.poll().records}
        records = {r.station_code: r for r in opendata(server).poll().records}
        (removed,), (renamed,) = server.faults.removed, server.faults.renamed
        event = server.faults.events[0]
    assert held in CODES and set(before) == CODES - {held}  # held back from the start
    assert set(after) == set(records) == CODES - {removed}  # added, and one removed
    assert after[renamed].name == before[renamed].name + " (renamed)"
    assert records[renamed].name == after[renamed].name
    assert event.kind == "info_change" and f"added={held}" in event.detail


def test_gbfs_json_pointing_to_a_moved_base_is_followed():
    with serve(schedule={1: "moved"}) as server:
        assert ok(gbfs(server).poll())
        paths = [e.path for e in server.ledger()]
        old = requests.get(server.gbfs_base_url + "/station_status.json", timeout=5)
    assert paths == [
        "/gbfs/gbfs.json",
        "/moved-1/gbfs/station_information.json",
        "/moved-1/gbfs/station_status.json",
    ]
    assert old.status_code == 404


def test_a_move_mid_run_costs_one_dead_letter_then_gbfs_json_is_read_again():
    with serve(schedule={4: "moved"}) as server:
        feed = gbfs(server)
        assert ok(feed.poll())
        assert failed(feed.poll(), "answered HTTP 404")  # the old URL is gone
        assert ok(feed.poll())  # found again through gbfs.json
        paths = [e.path for e in server.ledger()][-2:]
    assert paths == ["/gbfs/gbfs.json", "/moved-1/gbfs/station_status.json"]


def test_last_updated_goes_backwards_once_then_forward_again():
    with serve(schedule={5: "backwards"}) as server:
        feed = gbfs(server)
        feed.poll()
        server.seek(2)
        times = [feed.poll().observed_at for _ in range(3)]
        ledger = [e for e in server.ledger() if e.feed == "station_status"]
    recorded = [s.observed_at for s in REPLAY]
    assert times == [recorded[2], recorded[1], recorded[2]]
    assert [e.faults for e in ledger] == [(), (), ("backwards",), ()]
    assert ledger[2].feed_time == recorded[1] < ledger[1].feed_time


def test_a_stale_records_poll_is_stale_on_every_page():
    with serve(schedule={7: "backwards"}) as server:
        feed = opendata(server, page_size=10)
        feed.poll()
        server.seek(2)
        polls = [feed.poll() for _ in range(3)]
        pages = [(e.snapshot, e.faults) for e in server.ledger()][3:]
    assert pages == [(2, ())] * 3 + [(1, ("backwards",))] * 3 + [(2, ())] * 3
    reports = [max(r.last_reported for r in p.records) for p in polls]
    assert reports[1] < reports[0] == reports[2]


def test_one_of_each_kind_is_produced_and_no_poll_raises():
    plan = FaultPlan.one_of_each(burst=1, retry_after_s=0, slow_s=0.5, every=4)
    with FeedServer(HISTORY, speed=0, faults=plan) as server:
        feed = gbfs(server, timeout_s=0.2, info_refresh_s=0)
        polls = []
        for index in range(25):
            server.seek(min(index // 4, len(REPLAY) - 1))  # "backwards" needs a past
            polls.append(feed.poll())
        fired = [e.kind for e in server.faults.events]
        seen = {f for e in server.ledger() for f in e.faults}
    assert fired == list(FAULT_KINDS) and seen == set(FAULT_KINDS)
    assert all(isinstance(p, Snapshot) for p in polls)
    assert any(p.rejects and not p.records for p in polls)  # some became dead letters
    assert polls[-1].records and not polls[-1].rejects  # and the feed recovered


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), rate=st.floats(0.02, 0.06))
def test_under_random_faults_every_poll_is_a_snapshot_and_the_same_seed_replays_them(seed, rate):
    plan = FaultPlan(
        rates=dict.fromkeys(FAULT_KINDS, rate), seed=seed, burst=2, retry_after_s=0, slow_s=0.6
    )
    runs = []
    for _ in range(2):
        with FeedServer(HISTORY, speed=0, faults=plan) as server:
            feed = gbfs(server, retries=1, timeout_s=0.25, info_refresh_s=0)
            polls = []
            for index in range(len(REPLAY)):
                server.seek(index)
                polls.append(feed.poll())
            runs.append(([e.faults for e in server.ledger()], server.faults.events))
        for snap, entry in zip(polls, REPLAY, strict=True):
            assert isinstance(snap, Snapshot)
            assert (snap.records and not snap.rejects) or (not snap.records and snap.rejects)
            if snap.records:
                assert snap.observed_at <= entry.observed_at  # backwards at most
    assert runs[0] == runs[1]


def test_fault_specs_from_the_command_line():
    assert parse_faults("").kinds == frozenset()
    assert parse_faults("each").kinds == frozenset(FAULT_KINDS)
    assert dict(parse_faults("5xx,slow", rate=0.1).rates) == {"5xx": 0.1, "slow": 0.1}
    assert dict(parse_faults("5xx=0.2, 429=0.01").rates) == {"5xx": 0.2, "429": 0.01}
    assert sorted(parse_faults("each:moved,html").schedule.values()) == ["html", "moved"]
    for bad, message in [("teapot", "unknown fault"), ("5xx=lots", "bad fault rate"),
                         ("5xx=0.7,429=0.7", "add up")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_faults(bad)
