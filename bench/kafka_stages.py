"""Ingest and capture, each beside the raw client loop that is their ceiling.

Every function here does one timed thing against a real broker and returns
counts; :mod:`bench.worker` times them, interleaves them with their ceilings
(so load on the machine hits both alike) and takes medians.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.capture.job import CaptureSummary, capture
from pipeline.ingest.job import STATUS_PARTITIONS, ingest
from pipeline.kafka import clients
from pipeline.settings.capture import CaptureSettings
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.recorded import Snapshot

# Capture polls with this many records at most (pipeline/capture/job.py); the raw
# consumer ceiling uses the same, so both fetch alike.
CAPTURE_MAX_POLL_RECORDS = 10_000
PRODUCER_BATCH_SIZE = 256 * 1024  # clients.producer()'s batch_size, for confluent-kafka


def run_ingest(snapshots: Iterable[Snapshot], bootstrap: str, topic: str) -> dict[str, Any]:
    """The real ingest loop (change detection + serialize + produce), heartbeat 0.

    Heartbeat 0: the throughput of change detection and produce, compared with the
    raw producer on exactly the messages ingest emits.
    """
    settings = IngestSettings.build(
        {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "dead_letter_topic": f"{topic}.dead_letter",
            "polls_topic": polls_topic_of(topic),
            "heartbeat_s": 0,
            "speed": 0,
        }
    )
    summary = ingest(snapshots, settings, progress=False)
    return {
        "seen": summary.seen,
        "emitted": summary.emitted,
        "snapshots": summary.snapshots,
        "dead_lettered": summary.dead_lettered,
        "delivery_errors": summary.delivery_errors,
    }


def run_kafka_python_producer(
    messages: list[tuple[str, bytes]], bootstrap: str, topic: str
) -> dict[str, Any]:
    """Ceiling: the same pre-serialized messages through ``clients.producer()``, nothing else."""
    clients.ensure_topic(bootstrap, topic, STATUS_PARTITIONS)
    producer = clients.producer(bootstrap)
    errors = 0
    try:
        send = producer.send
        for key, value in messages:
            send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()
    return {"messages": len(messages), "delivery_errors": errors}


def run_confluent_producer(
    messages: list[tuple[str, bytes]], bootstrap: str, topic: str
) -> dict[str, Any]:
    """Context: librdkafka with comparable settings (acks=all, idempotence, gzip, linger 20 ms)."""
    from confluent_kafka import Producer

    clients.ensure_topic(bootstrap, topic, STATUS_PARTITIONS)
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "gzip",
            "linger.ms": 20,
            "batch.size": PRODUCER_BATCH_SIZE,
            "on_delivery": on_delivery,
        }
    )
    produce, poll = producer.produce, producer.poll
    for i, (key, value) in enumerate(messages):
        while True:
            try:
                produce(topic, value=value, key=key)
                break
            except BufferError:  # local queue full: let librdkafka send some
                poll(0.05)
        if i % 1000 == 0:
            poll(0)
    remaining = producer.flush(120)
    return {"messages": len(messages), "delivery_errors": len(errors) + remaining}


def run_capture(bootstrap: str, topic: str, n_records: int, group: str) -> dict[str, Any]:
    """`velib capture` into a fresh folder until ``n_records`` are written, then publish."""
    out = Path(tempfile.mkdtemp(prefix="velib-bench-capture-"))
    stop = threading.Event()

    def progress(summary: CaptureSummary) -> None:
        if summary.records + summary.rejected + summary.skipped >= n_records:
            stop.set()

    try:
        settings = CaptureSettings.build(
            {
                "bootstrap_servers": bootstrap,
                "topic": topic,
                "out": out,
                "group": group,
                "until_idle_s": 60.0,  # a safety net only; the run stops at n_records
            }
        )
        summary = capture(settings, stop=stop, progress=progress, progress_every_s=0.0)
        csv_bytes = sum(p.stat().st_size for p in out.glob("date=*/*.csv"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "records": summary.records,
        "rejected": summary.rejected,
        "files": summary.files,
        "csv_mb": round(csv_bytes / 1e6, 1),
    }


def run_raw_consumer(bootstrap: str, topic: str, n_records: int, group: str) -> dict[str, Any]:
    """Ceiling: a kafka-python consumer loop over the same topic that writes nothing."""
    consumer = clients.consumer(
        bootstrap, group, max_poll_records=CAPTURE_MAX_POLL_RECORDS, session_timeout_ms=10_000
    )
    count = 0
    try:
        consumer.subscribe([topic])
        while count < n_records:
            for messages in consumer.poll(timeout_ms=500).values():
                count += len(messages)
    finally:
        consumer.close(autocommit=False)
    return {"records": count}


def polls_topic_of(topic: str) -> str:
    """The polls topic that goes with a bench status topic."""
    return f"{topic}.polls"


def fill_stream_topic(
    base: list[Snapshot], n: int, heartbeat_s: float, bootstrap: str, topic: str
) -> int:
    """Put ``n`` records on a topic as ingest emits them with its heartbeat (the stream's input).

    The stream's indicators depend on heartbeats (a station silent for longer than
    ``stale_after`` turns unknown), so its workload is what `velib run` would produce:
    each whole snapshot's records, then its poll on :func:`polls_topic_of`.
    """
    from bench import workload
    from pipeline import poll
    from pipeline.ingest.changes import ChangeDetector
    from pipeline.ingest.polls import PollLog
    from pipeline.record import to_json

    clients.ensure_topic(bootstrap, topic, STATUS_PARTITIONS)
    clients.ensure_topic(bootstrap, polls_topic_of(topic), poll.PARTITIONS)
    detector = ChangeDetector(heartbeat_s)
    polls = PollLog()
    producer = clients.producer(bootstrap)
    sent = 0
    try:
        for snapshot in workload.scaled(base, 4 * n):
            emitted = 0
            for rec, _ in detector.process(snapshot.records):
                producer.send(topic, key=rec.station_code, value=to_json(rec))
                sent += 1
                emitted += 1
                if sent == n:
                    return sent
            producer.flush()
            done = polls.record(snapshot, emitted=emitted, rejected=len(snapshot.rejects))
            if done is not None:
                producer.send(polls_topic_of(topic), key=done.key, value=poll.to_json(done))
    finally:
        producer.flush()
        producer.close()
    return sent
