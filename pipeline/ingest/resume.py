"""Where a restarted ingest stands, and the clock that keeps each source's time moving forward.

Restart state (the lead's choice, kept): the topic is the truth. At start-up
:func:`restore_from_topic` reads the status topic from the beginning and keeps
the latest record per key, which gives (a) the last emitted state and emission
time of every station and (b) a resume point per source, the latest
``observed_at`` already in the topic. Snapshots older than the resume point are
skipped, so a replay restarted after ``kill -9`` does not re-emit old states as
"changes"; the snapshot *at* the resume point is processed again, and the
restored states make that idempotent (the part that reached the topic is
unchanged, the rest is emitted). Because the producer is flushed after every
snapshot, at most one snapshot is in flight when the process dies. Dead-letter
entries of that one snapshot can be written twice; station records cannot, and
neither can its poll message (:mod:`pipeline.ingest.polls` restores what the
polls topic holds).

While running, :class:`FeedClock` keeps each source's feed time moving forward:
a snapshot older than one already read (a cache's old answer, ``last_updated``
going backwards) is a dead letter, not a flood of states that go back in time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from pipeline.ingest.changes import ChangeDetector
from pipeline.kafka import clients
from pipeline.record import format_timestamp, from_json
from pipeline.sources.normalize import Rejection
from pipeline.sources.recorded import Snapshot

log = logging.getLogger(__name__)


def restore_from_topic(
    bootstrap_servers: str, topic: str, detector: ChangeDetector, timeout_s: float = 30.0
) -> tuple[dict[str, datetime], dict[tuple[str, datetime], int]]:
    """Fill the detector with the topic's latest record per key; return resume points.

    Returns:
        source -> latest observed_at among those latest records (empty when the
        topic is missing or empty), and (source, resume point) -> the records of
        that snapshot already on the topic (its poll's ``emitted`` when a crash
        came before the poll was sent).
    """
    latest = _latest_values(bootstrap_servers, topic, timeout_s)
    resume: dict[str, datetime] = {}
    bad = 0
    records = []
    for value in latest.values():
        try:
            records.append(from_json(value))
        except ValueError:
            bad += 1
    for record in records:
        detector.remember(record)
        if record.source not in resume or record.observed_at > resume[record.source]:
            resume[record.source] = record.observed_at
    at_resume = Counter(
        (r.source, r.observed_at) for r in records if r.observed_at == resume[r.source]
    )
    if bad:
        log.warning(
            "%d latest records of %s were unreadable; their stations start fresh", bad, topic
        )
    log.info(
        "restored %d stations from %s; resume points %s",
        len(detector),
        topic,
        {k: format_timestamp(v) for k, v in resume.items()},
    )
    return resume, dict(at_resume)


def _latest_values(bootstrap_servers: str, topic: str, timeout_s: float) -> dict[bytes, bytes]:
    """The last value of every key of ``topic``, read from its start to its end now.

    Raises:
        KafkaTimeoutError: the topic could not be read to its end in ``timeout_s``.
        OffsetsUnavailable: where it ends could not be read (missing replicas).
    """
    consumer = clients.consumer(bootstrap_servers, None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return {}
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        latest: dict[bytes, bytes] = {}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"could not read {topic} to its end in {timeout_s:.0f}s")
            for messages in consumer.poll(timeout_ms=500, max_records=5000).values():
                for message in messages:
                    if message.key is not None and message.value is not None:
                        latest[message.key] = message.value
        return latest
    finally:
        consumer.close()


class FeedClock:
    """Feed time per source: where the topic stands, then the newest snapshot read.

    A snapshot older than its source's resume point, before this run read that
    source, was produced before a restart: skipped. One older than a snapshot this
    run already read is a stale answer (a cache, or a feed whose ``last_updated``
    went backwards): its states are not changes and never reach the topic; it
    becomes one dead letter, so a state's time only moves forward per station.
    """

    def __init__(self, resume: Mapping[str, datetime]):
        self.resume = dict(resume)
        self.newest: dict[str, datetime] = {}

    def place(self, snap: Snapshot) -> str:
        """``"skip"``, ``"stale"`` or ``"ok"`` (and then the clock moves to it)."""
        newest = self.newest.get(snap.source)
        if not snap.records:  # a failed poll has the wall time: did a replay pass it already?
            point = (
                None
                if self.newest
                else self.resume.get(snap.source, max(self.resume.values(), default=None))
            )
            return "skip" if point is not None and snap.observed_at < point else "ok"
        if newest is not None and snap.observed_at < newest:
            return "stale"
        point = self.resume.get(snap.source) if newest is None else None
        if point is not None and snap.observed_at < point:
            return "skip"
        self.newest[snap.source] = snap.observed_at
        return "ok"

    def stale(self, snap: Snapshot) -> Rejection:
        """The dead letter of a stale snapshot."""
        newest = format_timestamp(self.newest[snap.source])
        reason = (
            f"stale snapshot: feed time {format_timestamp(snap.observed_at)} is older than "
            f"{newest} already read; its {len(snap.records)} states are not changes"
        )
        return Rejection(reason, {"feed_time": format_timestamp(snap.observed_at)}, snap.origin)
