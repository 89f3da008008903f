"""A live run's archive, replayed, gives the very topic the live run gave (issue 12).

Live: ``velib ingest --source gbfs --follow --archive DIR`` against the local
feed (a real recorded history, served with one fault of each kind but the slow
one, which the soak covers). Replay: ``velib ingest --source replay DIR`` into
fresh topics. Both status topics, both dead-letter topics and both polls topics
must be equal, message for message (key and value, per partition in order).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kafka import TopicPartition

from pipeline import poll
from pipeline.ingest import job as ingest
from pipeline.kafka import clients
from pipeline.localfeed.faults import parse_faults
from pipeline.localfeed.server import FeedServer
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.archive import Archive

pytestmark = pytest.mark.integration

FIX = Path(__file__).resolve().parent.parent / "fixtures"
FAULTS = "each:5xx,429,truncated,html,info_change,moved,backwards"


def messages(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes | None, bytes]]]:
    """Every message of a topic, per partition in offset order."""
    consumer = clients.consumer(bootstrap, None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: dict[int, list[tuple[bytes | None, bytes]]] = {tp.partition: [] for tp in tps}
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                out[tp.partition] += [(m.key, m.value) for m in batch]
        return out
    finally:
        consumer.close()


def run_ingest(settings: IngestSettings, archive: Archive | None = None, polls: int | None = None):
    stop = threading.Event()
    try:
        return ingest.ingest(
            ingest.snapshots_for(settings, stop, archive),
            settings,
            progress=False,
            stop=stop,
            max_snapshots=polls,
        )
    finally:
        if archive is not None:
            archive.close()


def test_replaying_the_archive_gives_the_live_topics(kafka_bootstrap, make_topic, tmp_path):
    topics = {side: (make_topic(3, f"{side}-status"), make_topic(1, f"{side}-dead"),
                     make_topic(1, f"{side}-polls"))
              for side in ("live", "replay")}  # fmt: skip
    common = {"bootstrap_servers": kafka_bootstrap, "heartbeat_s": 1800.0}
    faults = parse_faults(FAULTS)
    with FeedServer(FIX / "history", speed=3600, faults=faults) as server:
        live = IngestSettings.build(
            {
                **common,
                "source": "gbfs",
                "follow": True,
                "interval_s": 0.2,
                "gbfs_url": server.gbfs_base_url,
                "archive": tmp_path / "archive",
                "topic": topics["live"][0],
                "dead_letter_topic": topics["live"][1],
                "polls_topic": topics["live"][2],
            }
        )
        done = run_ingest(live, Archive(live.archive), polls=40)
        served = {kind for s in server.ledger() for kind in s.faults}
    replay = IngestSettings.build(
        {
            **common,
            "source": "replay",
            "path": tmp_path / "archive",
            "topic": topics["replay"][0],
            "dead_letter_topic": topics["replay"][1],
            "polls_topic": topics["replay"][2],
        }
    )
    again = run_ingest(replay)

    assert served >= set(FAULTS[5:].split(",")), f"the feed did not serve every fault: {served}"
    assert done.emitted > 50 and done.dead_lettered >= 3  # truncated, html, backwards at least
    assert (again.emitted, again.dead_lettered) == (done.emitted, done.dead_lettered)
    for side in (0, 1, 2):
        live_msgs = messages(kafka_bootstrap, topics["live"][side])
        assert live_msgs == messages(kafka_bootstrap, topics["replay"][side])
    dead = [v for _, v in messages(kafka_bootstrap, topics["live"][1])[0]]
    assert any(b"stale snapshot" in v for v in dead), (
        "the backwards feed time became no dead letter"
    )

    # one poll message per snapshot read, in poll order, each saying what it was; a live
    # answer of the snapshot already logged (the feed polled faster than it refreshes) is a
    # re-read: archived and counted, no message, so the replay of the archive re-reads it too
    polls = [poll.from_json(v) for _, v in messages(kafka_bootstrap, topics["live"][2])[0]]
    assert len(polls) == done.polls == again.polls
    assert done.polls + done.poll_rereads == done.snapshots
    assert done.poll_rereads > 0 and again.poll_rereads == done.poll_rereads
    assert all(p.polled_at is not None and p.source == "gbfs" for p in polls)
    ok = [p for p in polls if p.ok]
    assert ok and all(p.feed_time == p.observed_at and p.listed for p in ok)
    assert sum(p.emitted for p in polls) == done.emitted
    assert sum(p.rejected for p in polls) == done.dead_lettered
    failed = [p for p in polls if not p.ok]
    assert any(p.reason.startswith("stale snapshot") and p.stations > 0 for p in failed)
    assert any("HTML" in p.reason for p in failed)
    assert all(p.listed == () for p in failed)
