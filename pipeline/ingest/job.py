"""Ingest: snapshots -> change detection -> Kafka, rejects -> dead-letter topic.

:func:`ingest` is the whole loop; ``velib ingest``, ``velib run``, the tests and
the benchmarks call it directly and get an :class:`IngestSummary` back. Every
snapshot read is also one message on the polls topic (:mod:`pipeline.ingest.polls`).

Where a restarted run resumes, and the feed clock that keeps each source's time
moving forward: :mod:`pipeline.ingest.resume`.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka.errors import KafkaTimeoutError
from tqdm import tqdm

from pipeline import lifecycle, poll
from pipeline.ingest.changes import ChangeDetector, Decision
from pipeline.ingest.polls import PollLog
from pipeline.ingest.resume import FeedClock, restore_from_topic
from pipeline.kafka import clients
from pipeline.kafka.replicas import DeliveryFailed, explain
from pipeline.record import StationRecord, format_timestamp, to_json
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.archive import Archive, latest, read_archive
from pipeline.sources.normalize import OLD_REPORT_AFTER, Rejection
from pipeline.sources.recorded import Snapshot
from pipeline.sources.sequence import BACKWARDS, DESCRIBED, PARTIAL

log = logging.getLogger(__name__)

STATUS_PARTITIONS = 3  # key = station code keeps one station ordered; 3 is plenty for ~1,500


@dataclass
class IngestSummary:
    """What one ingest run did; ``line()`` is the CLI's summary line."""

    snapshots: int = 0
    skipped: int = 0
    seen: int = 0
    emitted: int = 0
    heartbeats: int = 0
    unchanged: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    unmapped_ids: int = 0
    delivery_errors: int = 0
    polls: int = 0
    polls_failed: int = 0  # polls that observed no station (not ok): failed reads, broken answers
    poll_rereads: int = 0  # answers that observed nothing new: no poll message (ingest.polls)
    reread_kinds: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    oddities: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        """One line for logs and the command line."""
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.reread_kinds.items()) if v)
        return (
            f"snapshots={self.snapshots} skipped={self.skipped} seen={self.seen} "
            f"emitted={self.emitted} (heartbeats={self.heartbeats}) unchanged={self.unchanged} "
            f"rejected={self.rejected} dead_lettered={self.dead_lettered} "
            f"unmapped_ids={self.unmapped_ids} delivery_errors={self.delivery_errors} "
            f"polls={self.polls} (failed={self.polls_failed}) rereads={self.poll_rereads}"
            + (f" ({kinds})" if kinds else "")
            + f" backwards={self.oddities[BACKWARDS]} partial={self.oddities[PARTIAL]}"
        )


def dead_letter_value(rejection: Rejection, source: str, observed_at: datetime) -> bytes:
    """The dead-letter message value: reason, origin, source, observed_at, raw."""
    return json.dumps(
        {
            "reason": rejection.reason,
            "origin": rejection.origin,
            "source": source,
            "observed_at": format_timestamp(observed_at),
            "raw": rejection.raw,
        },
        ensure_ascii=False,
        default=str,
    ).encode()


def dead_letter_key(raw: Any) -> str | None:
    """The station code of a rejected row, when it has one."""
    if isinstance(raw, Mapping):
        for name in ("stationCode", "stationcode", "Identifiant station", "station_code"):
            value = raw.get(name)
            if value not in (None, ""):
                return str(value)
    return None


def ingest(
    snapshots: Iterable[Snapshot],
    settings: IngestSettings,
    *,
    stop: threading.Event | None = None,
    progress: bool = True,
    max_snapshots: int | None = None,
    on_snapshot: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Produce the changed stations of every snapshot, then its poll; rejects to dead letters.

    Each snapshot's station records and dead letters are flushed before its poll
    message is sent (and flushed), so a poll never precedes its records.

    A record the cluster does not acknowledge within ``settings.delivery_timeout_s``
    (the producer retries meanwhile: a leader change is seconds) stops the run with
    :class:`DeliveryFailed` before the snapshot's poll is sent and before the next
    snapshot: going on would leave a hole in a station's changes. A re-run resumes
    from the topic and sends what is missing, once.

    Args:
        snapshots: in time order (``read_recorded`` or a live ``follow``).
        settings: where to (the cluster, the status topic: created with 3
            partitions if missing, the dead-letter and polls topics), the heartbeat,
            the replay ``speed`` (0: as fast as possible; N: N recorded seconds per
            wall second) and ``no_restore`` (else change state, resume points and the
            poll log's memory are rebuilt from the topics first). Its source is not
            read: ``snapshots`` are what is produced.
        stop: set it to end after the current snapshot (``lifecycle.stop_on_signals``
            gives one that SIGINT/SIGTERM set).
        progress: show a tqdm bar on stderr (only when stderr is a terminal).
        max_snapshots: stop after this many processed snapshots (tests, benchmarks).
        on_snapshot: called with the running summary after each snapshot (follow mode logs).

    Raises:
        DeliveryFailed: a record was not acknowledged; one line (``NotEnoughReplicas:
            ...`` naming the missing replicas when that is why).
    """
    stop = stop or threading.Event()
    run = _Producing(settings)
    total = len(snapshots) if isinstance(snapshots, Sized) else None
    bar = tqdm(total=total, unit="snap", disable=None if progress else True, leave=False)
    try:
        for snap in snapshots:
            if stop.is_set():
                break
            bar.update(1)
            if not run.take(snap, stop):
                break
            if on_snapshot is not None:
                on_snapshot(run.summary)
            if max_snapshots is not None and run.summary.snapshots >= max_snapshots:
                break
    finally:
        bar.close()
        run.close()
    _log_explanations(run.summary)
    if run.detector.not_later:
        log.info(
            "%d records held back: observed no later than their station's last emission but "
            "with another state (the feed answered the same time again, with other station "
            "information); the station's next observation carries the new state",
            run.detector.not_later,
        )
    return run.summary


class _Producing:
    """One ingest run against Kafka: change state, poll log, feed clock and the producer."""

    def __init__(self, settings: IngestSettings) -> None:
        s = self.settings = settings
        self.summary = IngestSummary()
        clients.ensure_topic(s.bootstrap_servers, s.topic, STATUS_PARTITIONS)
        clients.ensure_topic(s.bootstrap_servers, s.dead_letter_topic, 1)
        clients.ensure_topic(s.bootstrap_servers, s.polls_topic, poll.PARTITIONS)
        self.detector = ChangeDetector(s.heartbeat_s)
        self.polls = PollLog()
        resume: dict[str, datetime] = {}
        if not s.no_restore:
            resume, emitted_before = restore_from_topic(s.bootstrap_servers, s.topic, self.detector)
            self.polls.restore(s.bootstrap_servers, s.polls_topic, emitted_before)
        self.clock = FeedClock(resume)
        self.last_time: datetime | None = None
        delivery_ms = int(s.delivery_timeout_s * 1000)
        self.producer = clients.producer(
            s.bootstrap_servers,
            delivery_timeout_ms=delivery_ms,
            request_timeout_ms=min(30_000, delivery_ms // 2),  # kafka-python: + linger <= delivery
        )
        self.failures: list[BaseException] = []

    def on_error(self, exc: BaseException) -> None:
        """Count a failed delivery; :meth:`delivered` stops the run on it."""
        self.summary.delivery_errors += 1
        self.failures.append(exc)

    def delivered(self) -> None:
        """Flush; raise when a record sent since the last check was not acknowledged.

        The flush has its own deadline: kafka-python expires batches after the
        delivery timeout only once it holds a producer id, and its request for
        one can wait forever on a cluster that refuses writes.
        """
        s = self.settings
        try:
            self.producer.flush(timeout=s.delivery_timeout_s + 10)
        except KafkaTimeoutError as exc:
            self.failures.append(exc)
        if self.failures:
            topics = [s.topic, s.dead_letter_topic, s.polls_topic]
            raise DeliveryFailed(explain(s.bootstrap_servers, topics, self.failures[0]))

    def take(self, snap: Snapshot, stop: threading.Event) -> bool:
        """Produce one snapshot's records, then its poll; False when stopped while pacing."""
        placed = self.clock.place(snap)
        if placed == "skip":
            self.summary.skipped += 1
            return True
        read, stale = snap, None
        if placed == "stale":
            rejection = self.clock.stale(snap)
            stale = rejection.reason
            snap = Snapshot(snap.observed_at, snap.source, snap.origin, [], [rejection])
        speed = self.settings.speed
        if speed > 0 and self.last_time is not None:
            gap = (snap.observed_at - self.last_time).total_seconds() / speed
            if gap > 0 and stop.wait(gap):
                return False
        if placed == "ok":
            self.last_time = snap.observed_at
        emitted, rejected = self.summary.emitted, self.summary.rejected
        self._records(snap)
        self.delivered()  # the records first: a poll never precedes them on the broker
        done = self.polls.record(
            read,
            emitted=self.summary.emitted - emitted,
            rejected=self.summary.rejected - rejected,
            stale=stale,
        )
        self.summary.poll_rereads = self.polls.rereads
        self.summary.reread_kinds = self.polls.reread_kinds
        if done is not None:
            value = poll.to_json(done)
            self.producer.send(self.settings.polls_topic, key=done.key, value=value).add_errback(
                self.on_error
            )
            self.delivered()
            self.summary.polls += 1
            self.summary.polls_failed += not done.ok
        return True

    def _records(self, snap: Snapshot) -> None:
        """The snapshot's changed records to the status topic, its rejects to dead letters."""
        summary, send = self.summary, self.producer.send
        topic, dead_letter_topic = self.settings.topic, self.settings.dead_letter_topic
        summary.snapshots += 1
        observed = snap.reread is None  # a re-read observed nothing: none of its states is sent
        records = snap.records if observed else []
        summary.seen += len(records)
        if observed:
            summary.unmapped_ids += snap.unmapped_ids
            summary.oddities.update(snap.oddities)
        for record, decision in self.detector.process(records):
            send(topic, key=record.station_code, value=to_json(record)).add_errback(self.on_error)
            summary.emitted += 1
            if decision is Decision.HEARTBEAT:
                summary.heartbeats += 1
        summary.unchanged = summary.seen - summary.emitted
        for rejection in snap.rejects:
            summary.rejected += 1
            summary.reasons[_reason_kind(rejection.reason)] += 1
            value = dead_letter_value(rejection, snap.source, snap.observed_at)
            key = dead_letter_key(rejection.raw)
            send(dead_letter_topic, key=key, value=value).add_errback(self.on_error)
            summary.dead_lettered += 1

    def close(self) -> None:
        """Deliver what is pending and close the producer (drop it once the cluster refused)."""
        if self.failures:  # what is left is refused too: the re-run resends it
            clients.abandon(self.producer)
        else:
            self.producer.flush()
            self.producer.close()


def _reason_kind(reason: str) -> str:
    """Group reasons without their values ("negative bikes_available (-1)" -> without "(-1)")."""
    return reason.split(" (", 1)[0].split(":", 1)[0]


def _log_explanations(summary: IngestSummary) -> None:
    if summary.unchanged:
        log.info(
            "%d records dropped as unchanged: same counts, flags and capacity as the "
            "station's last emission (repeated polls and re-reports)",
            summary.unchanged,
        )
    for reason, count in summary.reasons.most_common():
        log.info("rejected %d: %s", count, reason)
    if summary.poll_rereads:
        log.info(
            "%d answers were re-reads (%s): the source had not refreshed them, so they "
            "observed nothing; no state and no poll was sent for them",
            summary.poll_rereads,
            ", ".join(f"{k}={v}" for k, v in sorted(summary.reread_kinds.items())),
        )
    repeated = summary.oddities.pop("repeated_rows_dropped", 0)
    if repeated:
        log.info(
            "%d rows dropped before change detection: repeated verbatim from an earlier poll "
            "(the seed table appended the same polls again and again)",
            repeated,
        )
    for line in flagged_lines(summary):
        log.info("%s", line)


# What each flag on a kept record or answer counts, and whether out of the station records
# or the answers read (the "kept but flagged" lines).
FLAGGED: dict[str, tuple[str, str]] = {
    "bikes_docks_ne_capacity": (
        "bikes + free docks differ from capacity (bikes under repair, broken docks: real)",
        "records",
    ),
    "capacity_zero": ("capacity 0", "records"),
    "stale_last_reported": (
        f"report more than {OLD_REPORT_AFTER.total_seconds() / 3600:g} h older than the answer",
        "records",
    ),
    "duplicate_identical": ("listed twice, identically, in one answer (one kept)", "records"),
    DESCRIBED: ("without a description, given the station's earlier one", "records"),
    PARTIAL: ("left some stations' description out", "answers"),
    BACKWARDS: ("newest report older than the previous answer's", "answers"),
}


def flagged_lines(summary: IngestSummary) -> list[str]:
    """One line per flag that is set: how many, out of how many, and what it counts.

    ``flagged, kept: 267,738 of 394,503 station records (67.9 %): bikes + free
    docks differ from capacity (...)``: a count alone says nothing of its weight.
    """
    totals = {
        "records": (summary.seen, "station records"),
        "answers": (summary.snapshots, "answers"),
    }
    lines = []
    for key, count in sorted(summary.oddities.items(), key=lambda kv: -kv[1]):
        if not count:
            continue
        meaning, unit = FLAGGED.get(key, (key, "records"))
        total, noun = totals[unit]
        share = f" ({100 * count / total:.1f} %)" if total else ""
        lines.append(f"flagged, kept: {count:,} of {total:,} {noun}{share}: {meaning}")
    return lines


def emitted_records(
    records: Iterable[StationRecord], heartbeat_s: float = 0
) -> list[StationRecord]:
    """What :func:`ingest` would emit for these records, without Kafka (tests, bench)."""
    return [r for r, _ in ChangeDetector(heartbeat_s).process(records)]


def snapshots_for(
    settings: IngestSettings, stop: threading.Event, archive: Archive | None = None
) -> Iterable[Snapshot]:
    """The snapshots a settings object names: recorded files, or one / every live poll.

    With an ``archive``, every live poll's raw payloads are written to it first.
    """
    from pipeline.sources import feeds, recorded

    if settings.source == "replay":
        assert settings.path is not None  # checked by IngestSettings
        return recorded.read_recorded(settings.path)
    recorder = archive.write if archive is not None else None
    feed: feeds.Feed
    if settings.source == "gbfs":
        feed = feeds.GbfsFeed(settings.gbfs_url, recorder=recorder)
    else:
        feed = feeds.OpenDataFeed(settings.opendata_url, recorder=recorder)
    live = feeds.follow(feed, settings.interval_s, stop) if settings.follow else iter([feed.poll()])
    if archive is None:
        return live
    # A crash can fall between archiving a poll and producing all of it: the newest
    # archived polls go first (those already in the topic are skipped or unchanged).
    newest = read_archive(archive.root, folders=latest(archive.root, settings.source))
    return itertools.chain(newest, live)


def run(settings: IngestSettings, stop: threading.Event | None = None) -> IngestSummary:
    """``velib ingest``: the source of ``settings`` into Kafka until done or stopped."""
    archive = Archive(settings.archive) if settings.archive is not None else None
    with lifecycle.stop_on_signals(stop) as stopping:
        try:
            return ingest(
                snapshots_for(settings, stopping, archive),
                settings,
                stop=stopping,
                on_snapshot=(lambda s: log.info("poll: %s", s.line())) if settings.follow else None,
            )
        finally:
            if archive is not None:
                archive.close()
