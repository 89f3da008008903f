"""The poll log on the ingest side: one poll message per snapshot read.

:class:`PollLog` turns each snapshot, once its station records are on the
status topic, into a :class:`pipeline.poll.Poll`: ``ok`` or why not, what it
listed, what disappeared since the source's previous ok poll, what was
emitted and rejected for it. It is the same for a live poll, its archived
copy and a recorded file, because it reads only the snapshot and the counts.

Restart (exactly once, as the status topic): :meth:`PollLog.restore` reads
the tail of the polls topic, so a snapshot processed again after a crash
sends its poll only if the topic does not hold it yet (the source's previous
listing comes from there too, so ``disappeared`` does not restart empty), and
its ``emitted`` adds the station records that reached the status topic before
the crash. A poll is the same poll when its source, ``observed_at`` and
``polled_at`` are: a live answer at a feed time already on the topic (a stale
answer from a cache, or the feed polled again before it refreshed) is a new
poll, sent as an uninterrupted run or a replay of the archive sends it. What is
left: a live poll without ``--archive`` whose records were flushed but whose
poll was not when the process died has no poll message (the poll is gone with
the process). The stream rejects a poll with the same
source and ``observed_at`` as one it has (``repeated poll``), so a repeat
never counts twice.

Re-reads: a live feed polled faster than it refreshes answers the snapshot
already logged (the same feed time). That is no new snapshot, so it sends no
poll message (the stream would only reject it); :attr:`PollLog.rereads`
counts them, and the raw archive still keeps every answer. A recorded answer
the source had not refreshed (``Snapshot.reread``, judged in order by
:mod:`pipeline.sources.sequence`: byte-identical to an answer already read, or
every count as in the previous answer) is a re-read the same way: no poll
message, so the time it covers stays unobserved; :attr:`PollLog.reread_kinds`
says which rule each re-read met (``same_feed_time`` for the live one). An answer at the
same feed time that emitted station records (the station list changed while
the status clock did not) is a poll: its records are on the status topic, so
its poll message says so (the stream counts it once, as a repeated poll).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from pipeline import poll
from pipeline.kafka import clients
from pipeline.poll import Poll
from pipeline.sources.recorded import Snapshot

log = logging.getLogger(__name__)

# (source, observed_at, polled_at): one poll, whether read live or again from the archive
PollId = tuple[str, datetime, datetime | None]
SAME_FEED_TIME = "same_feed_time"  # the live re-read: an answer at the feed time already logged
TAIL = 1000  # polls read back at a restart: a source silent for longer starts a fresh listing


class PollLog:
    """Per source: the stations its previous ok poll listed; the polls already on the topic."""

    def __init__(self) -> None:
        self.listed: dict[str, frozenset[str]] = {}
        self.newest: dict[str, datetime] = {}  # the source's newest ok snapshot logged
        self.on_topic: set[PollId] = set()  # the polls the topic held at a restart
        self.emitted_before: dict[tuple[str, datetime], int] = {}
        self.rereads = 0
        self.reread_kinds: Counter[str] = Counter()

    def restore(
        self,
        bootstrap_servers: str,
        topic: str,
        emitted_before: Mapping[tuple[str, datetime], int] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        """Read the newest polls of the topic (at most :data:`TAIL`).

        Args:
            bootstrap_servers: Kafka bootstrap servers.
            topic: the polls topic (missing or empty: nothing to restore).
            emitted_before: (source, observed_at) -> station records of that snapshot
                already on the status topic (the resume point's snapshot).
            timeout_s: give up reading after this long.
        """
        self.emitted_before = dict(emitted_before or {})
        consumer = clients.consumer(bootstrap_servers, None)
        values: list[bytes] = []
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                return
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            end = consumer.end_offsets(tps)
            begin = consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(begin[tp], end[tp] - TAIL))
            deadline = time.monotonic() + timeout_s
            while any(consumer.position(tp) < end[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise KafkaTimeoutError(
                        f"could not read {topic} to its end in {timeout_s:.0f}s"
                    )
                for messages in consumer.poll(timeout_ms=500, max_records=TAIL).values():
                    values += [m.value for m in messages if m.value is not None]
        finally:
            consumer.close()
        self.remember_sent(values)
        log.info("restored %d polls from %s (sources %s)", len(values), topic, sorted(self.listed))

    def remember_sent(self, values: Iterable[bytes]) -> None:
        """Take in poll messages already on the topic, in send order (a later ok poll wins)."""
        for value in values:
            try:
                sent = poll.from_json(value)
            except ValueError:
                continue
            self.on_topic.add((sent.source, sent.observed_at, sent.polled_at))
            if sent.ok:
                self.listed[sent.source] = frozenset(sent.listed)
                self.newest[sent.source] = sent.observed_at

    def record(
        self,
        snap: Snapshot,
        *,
        emitted: int,
        rejected: int,
        stale: str | None = None,
    ) -> Poll | None:
        """The poll of a snapshot just produced, or None when the topic already holds it.

        Args:
            snap: the snapshot as read (a stale one with its records).
            emitted: station records sent for it.
            rejected: dead letters sent for it.
            stale: the stale reason when the feed clock refused it.
        """
        if snap.reread is not None:  # a recorded answer the source had not refreshed
            self._reread(snap.reread)
            return None
        key = (snap.source, snap.observed_at)
        if (*key, snap.polled_at) in self.on_topic:  # processed again after a restart
            self.on_topic.discard((*key, snap.polled_at))  # read again in this run: a new poll
            self.emitted_before.pop(key, None)  # the poll on the topic counted those records
            if stale is None and snap.records:
                self.listed[snap.source] = frozenset(r.station_code for r in snap.records)
            return None
        ok = stale is None and bool(snap.records)
        if ok and emitted == 0 and self.newest.get(snap.source) == snap.observed_at:
            self._reread(SAME_FEED_TIME)  # the feed answered the snapshot already logged
            return None
        emitted += self.emitted_before.pop(key, 0)
        listed = frozenset(r.station_code for r in snap.records) if ok else frozenset()
        previous = self.listed.get(snap.source)
        disappeared = previous - listed if ok and previous is not None else frozenset()
        if ok:
            self.listed[snap.source] = listed
            self.newest[snap.source] = snap.observed_at
        return Poll(
            source=snap.source,
            origin=snap.origin,
            observed_at=snap.observed_at,
            polled_at=snap.polled_at,
            feed_time=snap.feed_time,
            ok=ok,
            reason=None if ok else stale or _failure(snap),
            stations=len(snap.records),
            emitted=emitted,
            rejected=rejected,
            listed=tuple(sorted(listed)),
            disappeared=tuple(sorted(disappeared)),
        )

    def _reread(self, kind: str) -> None:
        """Count an answer that observed nothing new (no poll message)."""
        self.rereads += 1
        self.reread_kinds[kind] += 1


def _failure(snap: Snapshot) -> str:
    """Why a snapshot without a station record is not ok."""
    if len(snap.rejects) == 1:
        return snap.rejects[0].reason  # a failed poll or an unreadable file: its one reason
    if snap.rejects:  # e.g. a broken answer: counts without station codes
        reasons = Counter(r.reason for r in snap.rejects).most_common(2)
        most = reasons[0][0] if len(reasons) == 1 else f"{reasons[0][0]}, ..."
        return f"no valid station record ({len(snap.rejects)} rows rejected: {most})"
    return "no station in the snapshot"
