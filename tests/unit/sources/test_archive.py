"""The raw archive: live polls kept as they came, read back as the very snapshots parsed live.

A local feed (pipeline.localfeed.server) serves the real recorded history with
faults; the real GBFS and open-data clients poll it with an archive attached;
read_archive must give back snapshot for snapshot what the clients returned,
dead letters included.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipeline.localfeed.faults import FaultPlan
from pipeline.localfeed.server import FeedServer
from pipeline.sources import archive, recorded
from pipeline.sources.feeds import GbfsFeed, OpenDataFeed, http_session

ROOT = Path(__file__).resolve().parents[3]
HISTORY = ROOT / "tests/fixtures/history"


def _same(live, replayed) -> None:
    assert len(live) == len(replayed)
    for a, b in zip(live, replayed, strict=True):
        assert (a.observed_at, a.source, a.origin) == (b.observed_at, b.source, b.origin)
        assert a.records == b.records
        assert [(r.reason, r.origin) for r in a.rejects] == [
            (r.reason, r.origin) for r in b.rejects
        ]


@pytest.mark.parametrize("kind", ["gbfs", "opendata"])
def test_archived_polls_read_back_as_the_live_snapshots(tmp_path: Path, kind: str):
    store = archive.Archive(tmp_path / "archive")
    plan = FaultPlan(schedule={4: "html", 9: "truncated", 12: "5xx"}, burst=9, retry_after_s=0)
    with FeedServer(HISTORY, speed=0, faults=plan) as server:
        session = http_session(retries=1, backoff_s=0)
        if kind == "gbfs":
            feed = GbfsFeed(server.gbfs_base_url, session=session, recorder=store.write)
        else:
            feed = OpenDataFeed(server.opendata_url, session=session, recorder=store.write)
        live = []
        for index in range(6):
            server.seek(index)
            live.append(feed.poll())
    store.close()
    assert any(s.rejects and not s.records for s in live), "a fault should have failed a poll"
    assert any(s.records for s in live)
    replayed = list(recorded.read_recorded(tmp_path / "archive"))
    _same(live, replayed)


def test_a_failed_poll_keeps_what_the_server_said(tmp_path: Path):
    store = archive.Archive(tmp_path)
    with FeedServer(HISTORY, speed=0, faults=FaultPlan(schedule={3: "html"})) as server:
        feed = GbfsFeed(server.gbfs_base_url, session=http_session(retries=0), recorder=store.write)
        snap = feed.poll()
    (folder,) = archive.polls(tmp_path)
    with gzip.open(folder / "error.json.gz", "rt") as fh:
        error = json.load(fh)
    assert error["status"] == 200 and error["body_head"].lstrip().startswith("<")
    assert error["reason"] == snap.rejects[0].reason
    # information fetched before the failure is kept: later polls are joined with it
    assert (folder / "station_information.json.gz").exists()


def test_a_half_written_poll_is_not_read_and_names_are_by_poll_time(tmp_path: Path):
    store = archive.Archive(tmp_path)
    with FeedServer(HISTORY, speed=0) as server:
        feed = GbfsFeed(server.gbfs_base_url, recorder=store.write)
        feed.poll()
    (done,) = archive.polls(tmp_path)
    assert (
        done.parent.parent.name == "gbfs" and done.name.startswith("T") and done.name.endswith("Z")
    )
    crashed = done.parent / ".T235959Z.tmp"  # a crash before the rename
    crashed.mkdir()
    (crashed / "station_status.json.gz").write_bytes(b"")
    assert archive.polls(tmp_path) == [done]
    assert len(list(recorded.read_recorded(tmp_path))) == 1


def test_the_same_poll_gives_the_same_bytes(tmp_path: Path):
    # gzip without a timestamp: archiving the same poll twice gives identical files
    payload = {"data": {"stations": [{"station_id": 1}]}}
    a = archive._write_gz(tmp_path / "a.json.gz", payload)
    b = archive._write_gz(tmp_path / "b.json.gz", payload)
    assert a == b and (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
