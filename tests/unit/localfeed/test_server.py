"""The local feed: real recordings served on loopback, polled by the real clients.

No HTTP mock anywhere: a FeedServer listens on 127.0.0.1, and feeds.GbfsFeed and
feeds.OpenDataFeed poll it over real sockets. What they get is held against
sources.read_recorded on the same recorded files. The clock is held (speed 0)
and stepped with seek() wherever exact snapshots are compared.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.localfeed.recording import FeedClock, frame_index, load_recording
from pipeline.localfeed.server import FeedServer
from pipeline.sources.feeds import GbfsFeed, OpenDataFeed, http_session
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data/raw"
FIX = ROOT / "tests/fixtures"
HISTORY = RAW / "opendata-history"  # 45 real snapshots of 2022-05-12 and 2022-05-14


def gbfs_client(server: FeedServer, *, retries: int = 3, timeout_s: float = 5.0, **kw) -> GbfsFeed:
    session = http_session(retries=retries, backoff_s=0)
    return GbfsFeed(server.gbfs_base_url, session=session, timeout_s=timeout_s, **kw)


def opendata_client(server: FeedServer, *, retries: int = 3, **kw) -> OpenDataFeed:
    session = http_session(retries=retries, backoff_s=0)
    return OpenDataFeed(server.opendata_url, session=session, **kw)


def mismatches(got, expected, *drop: str) -> list[str]:
    """How two record lists differ by station (short: a failure must read fast, even in 1,400).

    ``source`` and the fields in ``drop`` (what a source cannot carry) are not compared.
    """
    skip = {"source", *drop}
    a = {r.station_code: r.to_dict() for r in got}
    b = {r.station_code: r.to_dict() for r in expected}
    out = [f"{code}: missing" for code in sorted(b.keys() - a.keys())]
    out += [f"{code}: extra" for code in sorted(a.keys() - b.keys())]
    for code in sorted(a.keys() & b.keys()):
        out += [
            f"{code}.{k}: {a[code][k]!r} != {b[code][k]!r}"
            for k in a[code]
            if k not in skip and a[code][k] != b[code][k]
        ]
    if len(got) != len(expected):
        out.append(f"{len(got)} records != {len(expected)}")
    return out[:10]


API_DROP = ("station_id", "observed_at")  # the records API has no GBFS id, stamps its poll time


@functools.cache
def history_replay() -> list:
    """The replay of the history, read once (a plain function: hypothesis prints fixtures)."""
    return list(read_recorded(HISTORY))


@pytest.fixture(scope="module")
def history_server():
    with FeedServer(HISTORY, speed=0) as server:
        yield server


# --- the same stations, the same counts as the replay --------------------------------


def test_recorded_gbfs_days_reach_both_clients_as_replay_reads_them():
    replay = list(read_recorded(RAW / "gbfs"))
    with FeedServer(RAW / "gbfs", speed=0) as server:
        assert [f.id for f in server.recording.frames] == ["2024-11-19", "2025-10-18"]
        for index, expected in enumerate(replay):
            server.seek(index)
            gbfs = gbfs_client(server).poll()
            records = opendata_client(server).poll()
            assert gbfs.rejects == [] and records.rejects == []
            assert gbfs.observed_at == expected.observed_at  # lastUpdatedOther = recorded time
            assert len(gbfs.records) == len(expected.records) in (1485, 1495)
            assert mismatches(gbfs.records, expected.records) == []
            assert mismatches(records.records, expected.records, *API_DROP) == []


@pytest.mark.slow  # eight history snapshots served and parsed by both clients
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 44))
def test_any_history_snapshot_reaches_both_clients_as_replay_reads_it(history_server, index):
    history_server.seek(index)
    expected = history_replay()[index]
    gbfs = gbfs_client(history_server, info_refresh_s=0).poll()
    records = opendata_client(history_server).poll()
    assert gbfs.observed_at == expected.observed_at
    assert len(gbfs.records) == len(records.records) == len(expected.records) > 1400
    assert mismatches(gbfs.records, expected.records) == []
    assert mismatches(records.records, expected.records, *API_DROP) == []
    assert gbfs.rejects == records.rejects == expected.rejects == []


def test_all_four_export_layouts_convert_faithfully():
    # id:<station_id> placeholders, OUI/NON flags, "lat,lon" strings and communes
    replay = list(read_recorded(FIX / "opendata"))
    with FeedServer(FIX / "opendata", speed=0) as server:
        for index, expected in enumerate(replay):
            server.seek(index)
            gbfs = gbfs_client(server, info_refresh_s=0).poll()
            records = opendata_client(server, page_size=5).poll()
            assert mismatches(gbfs.records, expected.records) == []
            assert mismatches(records.records, expected.records, *API_DROP) == []
            if index == 0:  # ids only station_ids_derived.csv maps, and one no table maps
                codes = {r.station_code: r.station_id for r in gbfs.records}
                assert (codes["12004"], codes["22009"]) == (37920, 338853596)
                assert codes["id:102290754"] == 102290754


def test_records_api_pages_like_the_explore_api(history_server):
    history_server.seek(0)
    url = history_server.opendata_url + "/records"
    page = requests.get(url, params={"limit": 3, "offset": 5, "order_by": "stationcode"}, timeout=5)
    body = page.json()
    assert page.status_code == 200 and body["total_count"] == 1414
    codes = [r["stationcode"] for r in body["results"]]
    assert len(codes) == 3 and codes == sorted(codes)
    first = body["results"][0]
    assert first["is_installed"] in ("OUI", "NON") and first["duedate"].endswith("+00:00")
    assert set(first["coordonnees_geo"]) == {"lat", "lon"}
    assert requests.get(url, params={"limit": 101}, timeout=5).status_code == 400
    assert requests.get(url, params={"offset": 9995, "limit": 10}, timeout=5).status_code == 400
    assert len(requests.get(url, timeout=5).json()["results"]) == 10  # the API's default limit


# --- the clock ---------------------------------------------------------------------


class ManualTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_thirty_minute_gap_passes_in_1_8_seconds_at_speed_1000():
    t0 = datetime(2022, 5, 12, 10, 0, tzinfo=UTC)
    times = [t0, t0 + timedelta(minutes=30), t0 + timedelta(minutes=90)]
    real = ManualTime()
    clock = FeedClock(times, 1000, now=real)
    assert clock.index() == 0
    real.now += 1.79
    assert clock.index() == 0
    real.now += 0.02
    assert clock.index() == 1 and clock.recorded_now() == t0 + timedelta(seconds=1810)
    real.now += 1000
    assert clock.index() == 2  # after the last snapshot the feed keeps its last state
    clock.seek(0)
    assert clock.index() == 0
    held = FeedClock(times, 0, now=real)
    real.now += 10**6
    assert held.index() == 0
    with pytest.raises(ValueError, match="speed"):
        FeedClock(times, -1)


@given(
    speed=st.floats(0, 1e6),
    elapsed=st.lists(st.floats(0, 1e5), min_size=1, max_size=20),
)
def test_the_served_snapshot_is_the_latest_recorded_at_or_before_the_clock(speed, elapsed):
    times = load_recording(FIX / "history").times
    real = ManualTime()
    real.now = 0.0  # elapsed real time is then exactly `step`, with no rounding
    clock = FeedClock(times, speed, now=real)
    seen = []
    for step in sorted(elapsed):
        real.now = step
        at = times[0] + timedelta(seconds=min(step * speed, 3.0e9))
        index = clock.index()
        assert index == frame_index(times, at)
        assert times[index] <= at and (index == len(times) - 1 or at < times[index + 1])
        seen.append(index)
    assert seen == sorted(seen)  # snapshots only move forward while time runs


def test_snapshots_advance_at_the_given_speed_with_real_time():
    speed = 20_000.0  # the fixture's 5 h of recorded time pass in under a second
    replay = list(read_recorded(FIX / "history"))
    last = replay[-1].observed_at
    started = time.monotonic()  # before the clock starts, when the server is made
    with FeedServer(FIX / "history", speed=speed) as server:
        feed = gbfs_client(server, info_refresh_s=0)
        observed = []
        while time.monotonic() - started < 20:
            snap = feed.poll()
            observed.append(snap.observed_at)
            if snap.observed_at == last:
                break
        took = time.monotonic() - started
        ledger = server.ledger()
    span = (last - replay[0].observed_at).total_seconds()
    assert observed[-1] == last and observed == sorted(observed)
    assert took >= span / speed  # the last snapshot cannot come sooner
    times = [s.observed_at for s in replay]
    for entry in ledger:  # every station answer came from the snapshot current at its request
        expected = None if entry.feed == "discovery" else frame_index(times, entry.recorded_at)
        assert entry.snapshot == expected
    status = [e for e in ledger if e.feed == "station_status"]
    for a, b in zip(status, status[1:], strict=False):
        recorded = (b.recorded_at - a.recorded_at).total_seconds()
        real = (b.at - a.at).total_seconds()
        assert recorded == pytest.approx(real * speed, abs=0.05 * speed)
    assert {e.feed_time for e in status} <= {s.observed_at for s in replay}


def test_the_ledger_says_which_snapshot_was_served_and_is_written_as_json_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with FeedServer(FIX / "history", speed=0, ledger_path=path) as server:
        feed = gbfs_client(server, info_refresh_s=0)
        feed.poll()
        server.seek(3)
        snap = feed.poll()
        ledger = server.ledger()
    assert [e.feed for e in ledger] == [
        "discovery",
        "station_information",
        "station_status",
        "station_information",
        "station_status",
    ]
    assert [e.snapshot for e in ledger] == [None, 0, 0, 3, 3]
    assert ledger[-1].snapshot_id == "velib-opendata-2022-05-13T055740Z.csv.gz"
    assert ledger[-1].feed_time == snap.observed_at and all(e.clean for e in ledger)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["request"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[-1]["feed_time"] == snap.observed_at.isoformat() and lines[-1]["faults"] == []
