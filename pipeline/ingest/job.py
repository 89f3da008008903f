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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tqdm import tqdm

from pipeline import lifecycle, poll
from pipeline.ingest.changes import ChangeDetector, Decision
from pipeline.ingest.polls import PollLog
from pipeline.ingest.resume import FeedClock, restore_from_topic
from pipeline.kafka import clients
from pipeline.record import StationRecord, format_timestamp, to_json
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.archive import Archive, latest, read_archive
from pipeline.sources.normalize import Rejection
from pipeline.sources.recorded import Snapshot
from pipeline.sources.sequence import BACKWARDS, PARTIAL

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
    *,
    bootstrap_servers: str,
    topic: str,
    dead_letter_topic: str,
    polls_topic: str,
    heartbeat_s: float = 0,
    speed: float = 0,
    restore_state: bool = True,
    progress: bool = True,
    stop: threading.Event | None = None,
    max_snapshots: int | None = None,
    on_snapshot: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Produce the changed stations of every snapshot, then its poll; rejects to dead letters.

    Each snapshot's station records and dead letters are flushed before its poll
    message is sent (and flushed), so a poll never precedes its records.

    Args:
        snapshots: in time order (``read_recorded`` or a live ``follow``).
        bootstrap_servers: Kafka bootstrap servers.
        topic: the station-status topic (created with 3 partitions if missing).
        dead_letter_topic: where rejections go (created if missing).
        polls_topic: one message per snapshot read, key = source (created if missing).
        heartbeat_s: re-emit unchanged stations after this much observed time; 0 = never.
        speed: 0 = as fast as possible; N = N recorded seconds per wall second.
        restore_state: rebuild change state, resume points and the poll log's memory
            from the topics first.
        progress: show a tqdm bar on stderr (only when stderr is a terminal).
        stop: set it to end after the current snapshot (``lifecycle.stop_on_signals``
            gives one that SIGINT/SIGTERM set).
        max_snapshots: stop after this many processed snapshots (tests, benchmarks).
        on_snapshot: called with the running summary after each snapshot (follow mode logs).
    """
    stop = stop or threading.Event()
    summary = IngestSummary()
    clients.ensure_topic(bootstrap_servers, topic, STATUS_PARTITIONS)
    clients.ensure_topic(bootstrap_servers, dead_letter_topic, 1)
    clients.ensure_topic(bootstrap_servers, polls_topic, poll.PARTITIONS)
    detector = ChangeDetector(heartbeat_s)
    polls = PollLog()
    resume: dict[str, datetime] = {}
    if restore_state:
        resume, emitted_before = restore_from_topic(bootstrap_servers, topic, detector)
        polls.restore(bootstrap_servers, polls_topic, emitted_before)
    producer = clients.producer(bootstrap_servers)

    def on_error(exc: BaseException) -> None:
        summary.delivery_errors += 1
        if summary.delivery_errors == 1:
            log.error("delivery failed: %s (further failures only counted)", exc)

    total = len(snapshots) if hasattr(snapshots, "__len__") else None  # type: ignore[arg-type]
    bar = tqdm(total=total, unit="snap", disable=None if progress else True, leave=False)
    last_time: datetime | None = None
    clock = FeedClock(resume)
    try:
        for snap in snapshots:
            if stop.is_set():
                break
            bar.update(1)
            placed = clock.place(snap)
            if placed == "skip":
                summary.skipped += 1
                continue
            read, stale = snap, None
            if placed == "stale":
                rejection = clock.stale(snap)
                stale = rejection.reason
                snap = Snapshot(snap.observed_at, snap.source, snap.origin, [], [rejection])
            if speed > 0 and last_time is not None:
                gap = (snap.observed_at - last_time).total_seconds() / speed
                if gap > 0 and stop.wait(gap):
                    break
            if placed == "ok":
                last_time = snap.observed_at
            emitted, rejected = summary.emitted, summary.rejected
            _one_snapshot(snap, producer, detector, summary, topic, dead_letter_topic, on_error)
            producer.flush()  # the records first: a poll never precedes them on the broker
            done = polls.record(
                read,
                emitted=summary.emitted - emitted,
                rejected=summary.rejected - rejected,
                stale=stale,
            )
            summary.poll_rereads, summary.reread_kinds = polls.rereads, polls.reread_kinds
            if done is not None:
                value = poll.to_json(done)
                producer.send(polls_topic, key=done.key, value=value).add_errback(on_error)
                producer.flush()
                summary.polls += 1
                summary.polls_failed += not done.ok
            if on_snapshot is not None:
                on_snapshot(summary)
            if max_snapshots is not None and summary.snapshots >= max_snapshots:
                break
    finally:
        bar.close()
        producer.flush()
        producer.close()
    _log_explanations(summary)
    return summary


def _one_snapshot(
    snap: Snapshot,
    producer: Any,
    detector: ChangeDetector,
    summary: IngestSummary,
    topic: str,
    dead_letter_topic: str,
    on_error: Any,
) -> None:
    summary.snapshots += 1
    observed = snap.reread is None  # a re-read observed nothing: none of its states is sent
    records = snap.records if observed else []
    summary.seen += len(records)
    if observed:
        summary.unmapped_ids += snap.unmapped_ids
        summary.oddities.update(snap.oddities)
    send = producer.send
    for record, decision in detector.process(records):
        send(topic, key=record.station_code, value=to_json(record)).add_errback(on_error)
        summary.emitted += 1
        if decision is Decision.HEARTBEAT:
            summary.heartbeats += 1
    summary.unchanged = summary.seen - summary.emitted
    for rejection in snap.rejects:
        summary.rejected += 1
        summary.reasons[_reason_kind(rejection.reason)] += 1
        value = dead_letter_value(rejection, snap.source, snap.observed_at)
        key = dead_letter_key(rejection.raw)
        send(dead_letter_topic, key=key, value=value).add_errback(on_error)
        summary.dead_lettered += 1


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
    kept = {k: v for k, v in summary.oddities.items() if v}
    if kept:
        log.info("kept but flagged: %s", ", ".join(f"{k}={v}" for k, v in sorted(kept.items())))


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
                bootstrap_servers=settings.bootstrap_servers,
                topic=settings.topic,
                dead_letter_topic=settings.dead_letter_topic,
                polls_topic=settings.polls_topic,
                heartbeat_s=settings.heartbeat_s,
                speed=settings.speed,
                restore_state=not settings.no_restore,
                stop=stopping,
                on_snapshot=(lambda s: log.info("poll: %s", s.line())) if settings.follow else None,
            )
        finally:
            if archive is not None:
                archive.close()
