"""Capture: the status topic -> CSV files, each record exactly once, even across crashes.

Layout of the output folder (one topic per folder)::

    date=2022-05-12/part-00002-000000000123.csv   records of partition 2, first offset 123
    _rejected/part-00002-000000000130.csv         messages that are not valid records
    _offsets/partition-00002.json                 {"topic", "partition", "next_offset", ...}

(``offsets`` moves ``_offsets/`` elsewhere: ``velib run`` keeps resume points
out of its CSV folder, a research output.)

Records are filed by the UTC date of ``observed_at`` (the snapshot time: every
record of one snapshot lands in the same folder). Rows are the station record's
CSV form (:func:`pipeline.record.to_csv_row`) followed by ``topic, partition,
offset``; UTF-8, RFC 4180 quoting (``csv.QUOTE_MINIMAL``), rows end with LF
as pandas and Spark write them. Names starting with ``.`` or ``_`` are ignored by
Spark's file source and by a ``date=*/*.csv`` glob, so temp files, rejects and
offsets never mix with the data.

Exactly-once, how: a partition's open files are temp files (``.part-*.tmp``) in
their final folder. Publishing a partition fsyncs them, renames them, fsyncs the
folders, then atomically rewrites ``_offsets/partition-N.json`` with the next
offset to read, and only then commits that offset to Kafka. The offsets file is
the truth: on assignment the consumer seeks to it, and without one to the
beginning of the partition, whatever the group committed -- so an emptied or new
folder gets a full copy (make run, DVC) and Kafka's committed offsets only show
progress and lag. Files published after the last offsets
file write (a crash between rename and manifest) are found by the first offset
in their name; the offsets they hold are read back and skipped, so they are
never written a second time. Stale temp files of a partition are removed when
it is assigned. Processes sharing a group must share the output folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from pipeline import lifecycle
from pipeline.capture.files import (
    CAPTURE_HEADER,
    REJECT_HEADER,
    REJECTED_DIR,
    CapturedRecord,
    OutputFolder,
    PartWriter,
    message_cells,
    pandas_read_options,
    read_captured,
    read_rejected,
    render_reject,
)
from pipeline.durable import fsync_dir
from pipeline.kafka import clients
from pipeline.settings.capture import CaptureSettings

__all__ = [
    "CAPTURE_HEADER",
    "CaptureSummary",
    "CapturedRecord",
    "capture",
    "pandas_read_options",
    "read_captured",
    "read_rejected",
]

log = logging.getLogger(__name__)

JOIN_GRACE_S = 60.0


@dataclass
class _Partition:
    """Capture state of one assigned partition."""

    number: int
    published_next: int | None
    skip: set[int]
    parts: dict[str, PartWriter] = field(default_factory=dict)
    rows: int = 0
    opened_at: float = 0.0
    next_offset: int | None = None


@dataclass
class CaptureSummary:
    """What a capture run did; ``last_offsets`` maps partition -> last offset published."""

    records: int = 0
    rejected: int = 0
    skipped: int = 0
    files: int = 0
    partitions: set[int] = field(default_factory=set)
    last_offsets: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for the command line: counts, files and where each partition ended."""
        offsets = " ".join(f"{p}:{o}" for p, o in sorted(self.last_offsets.items())) or "-"
        return (
            f"records={self.records} rejected={self.rejected} already_in_files={self.skipped} "
            f"files={self.files} partitions={sorted(self.partitions)} last_offsets={offsets} "
            f"seconds={self.seconds:.1f}"
        )


# --- the consumer loop -------------------------------------------------------


class _Capture(ConsumerRebalanceListener):
    """Consumer loop and rebalance listener; listener methods only touch local files."""

    def __init__(self, consumer: Any, folder: OutputFolder, max_records: int, max_seconds: float):
        self.consumer = consumer
        self.folder = folder
        self.topic = folder.topic
        self.max_records = max_records
        self.max_seconds = max_seconds
        self.owned: dict[int, _Partition] = {}
        self.to_commit: dict[int, int] = {}
        self.summary = CaptureSummary()
        self.last_activity = time.monotonic()
        self.joined = False  # the idle clock starts once the group gave us an assignment

    # listener: runs inside poll(), on the consumer's event loop -- no blocking Kafka calls
    def on_partitions_assigned(self, assigned: Any) -> None:
        """Seek each new partition past what the folder already holds."""
        self.last_activity = time.monotonic()
        self.joined = True
        for tp in assigned:
            if tp.topic != self.topic or tp.partition in self.owned:
                continue
            p = tp.partition
            removed = self.folder.remove_stale_temps(p)
            published_next = self.folder.next_offset(p)
            skip = self.folder.published_offsets(p, published_next)
            if published_next is not None:
                self.consumer.seek(tp, published_next)
            else:  # the folder holds nothing of this partition: copy it all
                self.consumer.seek_to_beginning(tp)
            self.owned[p] = _Partition(p, published_next, skip)
            log.info(
                "partition %d assigned: resume at %s, %d offsets already in files, "
                "%d stale temp files removed",
                p,
                published_next,
                len(skip),
                removed,
            )

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Publish what we hold for partitions we give up (their commit is the folder's)."""
        for tp in revoked:
            state = self.owned.pop(tp.partition, None) if tp.topic == self.topic else None
            if state is not None:
                self._publish(state)
                self.to_commit.pop(state.number, None)

    def on_partitions_lost(self, lost: Any) -> None:
        """Another member owns these now: drop unpublished temp files, publish nothing."""
        for tp in lost:
            state = self.owned.pop(tp.partition, None) if tp.topic == self.topic else None
            if state is not None:
                for part in state.parts.values():
                    part.discard()
                self.to_commit.pop(state.number, None)

    def handle(self, tp: TopicPartition, messages: list[Any], now: float) -> None:
        """Write one polled batch of a partition into its open temp files."""
        state = self.owned.get(tp.partition)
        if state is None or not messages:
            return
        summary, topic, p, skip = self.summary, self.topic, state.number, state.skip
        if state.rows == 0:
            state.opened_at = now
        for msg in messages:
            offset = msg.offset
            state.next_offset = offset + 1
            if skip and offset in skip:
                skip.discard(offset)
                summary.skipped += 1
                continue
            try:
                cells, folder = message_cells(msg.value)
            except ValueError as exc:
                self._part(state, REJECTED_DIR, offset, REJECT_HEADER).writer.writerow(
                    render_reject(topic, p, offset, msg.key, msg.value, str(exc))
                )
                summary.rejected += 1
            else:
                self._part(state, folder, offset, CAPTURE_HEADER).writer.writerow(
                    [*cells, topic, str(p), str(offset)]
                )
                summary.records += 1
            state.rows += 1
            if state.rows >= self.max_records:
                self._publish(state)
                state.opened_at = now
        self.last_activity = now

    def _part(self, state: _Partition, folder: str, offset: int, header: tuple) -> PartWriter:
        part = state.parts.get(folder)
        if part is None:
            part = PartWriter(self.folder.root / folder, state.number, offset, header)
            state.parts[folder] = part
        return part

    def rotate_due(self, now: float) -> None:
        """Publish partitions whose oldest unpublished row is max_seconds old."""
        for state in list(self.owned.values()):
            if state.rows and now - state.opened_at >= self.max_seconds:
                self._publish(state)

    def publish_all(self) -> None:
        """Publish every open file (graceful stop, idle)."""
        for state in list(self.owned.values()):
            self._publish(state)

    def _publish(self, state: _Partition) -> None:
        """Files durable and renamed, folders synced, then the offsets file; commit later."""
        if state.next_offset is None or state.next_offset == state.published_next:
            return
        folders = {self.folder.root}
        for part in state.parts.values():
            part.publish()
            folders.add(part.final.parent)
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            fsync_dir(folder)
        self.folder.write_next_offset(state.number, state.next_offset)
        summary = self.summary
        summary.files += len(state.parts)
        summary.partitions.add(state.number)
        summary.last_offsets[state.number] = state.next_offset - 1
        state.parts.clear()
        state.rows = 0
        state.published_next = state.next_offset
        self.to_commit[state.number] = state.next_offset

    def commit(self) -> None:
        """Tell Kafka what the folder already holds (the folder stays the truth)."""
        if not self.to_commit:
            return
        offsets = {
            TopicPartition(self.topic, p): OffsetAndMetadata(n, "", -1)
            for p, n in self.to_commit.items()
            if p in self.owned
        }
        self.to_commit.clear()
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance raced us; the offsets files still hold it
            log.warning("offset commit failed (%s); the offsets files keep the position", exc)


def _idle(run: _Capture, now: float, started: float, until_idle_s: float) -> bool:
    """Idle once assigned and quiet for until_idle_s (joining can take a session timeout)."""
    if run.joined and now - run.last_activity >= until_idle_s:
        log.info("nothing new for %.1f s: stopping", until_idle_s)
        return True
    if not run.joined and now - started >= until_idle_s + JOIN_GRACE_S:
        log.warning("no partition assignment after %.0f s: stopping", now - started)
        return True
    return False


def capture(
    settings: CaptureSettings,
    *,
    stop: threading.Event | None = None,
    progress: Callable[[CaptureSummary], None] | None = None,
    progress_every_s: float = 2.0,
) -> CaptureSummary:
    """Consume the status topic in the settings' group into CSV parts until stopped.

    Args:
        settings: the topic and cluster, the capture folder (``out``, one topic per
            folder; processes of one ``group`` must share it), where the resume points
            go (``offsets``, default ``out/_offsets``: delete it together with
            ``out``, never one without the other), when to stop (``until_idle_s``
            without a new message; None runs until ``stop`` is set), and the file
            limits (``max_records`` rows, ``max_seconds`` after a file's first row).
        stop: set it (e.g. from a signal handler) to publish, commit and return.
        progress: called with the running summary at most every ``progress_every_s``.
        progress_every_s: seconds between progress calls.

    Returns:
        What was published; ``last_offsets`` holds the last offset per partition.

    Raises:
        ValueError: ``out`` holds a capture of another topic.

    """
    s = settings
    until_idle_s = s.until_idle_s
    stop = stop or threading.Event()
    folder = OutputFolder(s.out, s.topic, s.offsets)
    folder.prepare()
    # A killed capture's partitions move to the others after session_timeout_ms: keep it short.
    consumer = clients.consumer(
        s.bootstrap_servers, s.group, max_poll_records=10_000, session_timeout_ms=10_000
    )
    run = _Capture(consumer, folder, s.max_records, s.max_seconds)
    started = last_progress = time.monotonic()
    try:
        consumer.subscribe([s.topic], listener=run)
        poll_ms = int(min(500, s.max_seconds * 1000, (until_idle_s or 1) * 1000))
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=poll_ms)
            now = time.monotonic()
            for tp, messages in batch.items():
                run.handle(tp, messages, now)
            run.rotate_due(now)
            run.commit()
            if progress and now - last_progress >= progress_every_s:
                run.summary.seconds = now - started
                progress(run.summary)
                last_progress = now
            if until_idle_s is not None and _idle(run, now, started, until_idle_s):
                break
        run.publish_all()
        run.commit()
    finally:
        consumer.close(autocommit=False)
    run.summary.seconds = time.monotonic() - started
    return run.summary


def run(settings: CaptureSettings, stop: threading.Event | None = None) -> CaptureSummary:
    """``velib capture``: the topic of ``settings`` into CSV until idle or stopped."""
    progress = lifecycle.Progress("capture")

    def report(summary: CaptureSummary) -> None:
        rate = summary.records / summary.seconds if summary.seconds else 0.0
        progress.update(
            summary.records + summary.rejected,
            lambda: f"{summary.records} records ({rate:.0f}/s), {summary.files} files",
            files=summary.files,
            rejected=summary.rejected,
        )

    with lifecycle.stop_on_signals(stop) as stopping:
        try:
            return capture(settings, stop=stopping, progress=report)
        finally:
            progress.close()
