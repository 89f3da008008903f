"""The latency of a live micro-batch: one real poll of the network through the real stream.

A live run polls the feed every minute (or five) and Spark triggers every 30 s:
each poll's changed stations are one micro-batch. Here ``velib stream --live``
runs (its own query, trigger every 0.5 s) while ingest feeds it the real polls of
a recording one at a time, each only once the stream has committed the one
before, so every poll is a batch of its own with the real share of changed
stations. Then single records, one per batch: their median is the **fixed
cost** of a batch (what it costs whatever it holds); the poll batches' median
minus it is the **data cost** of a poll.

The batch time is the batch function's own (read and parse, state, plan, the
Spark jobs, the commits, the state commit), from the stream's summary; Spark's
trigger around it (the offset and commit logs) is in ``trigger_s``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline import record
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import Snapshot, read_recorded
from pipeline.stream.progress import consumed

WAIT_S = 300.0  # a batch that takes longer than this fails the bench


def polls_of(recording: Path, first: date, count: int) -> list[Snapshot]:
    """``count`` consecutive answers that are polls (not re-reads), from Paris date ``first``."""
    from pipeline.clock import paris_date

    chosen = []
    for snap in read_recorded(recording, keep=lambda at: paris_date(at) >= first):
        if snap.reread is None and snap.records:
            chosen.append(snap)
            if len(chosen) == count:
                break
    if len(chosen) < count:
        raise ValueError(f"{recording}: {len(chosen)} polls from {first}, {count} asked")
    return chosen


def _end_offsets(bootstrap: str, topics: list[str]) -> dict[str, dict[int, int]]:
    from kafka import TopicPartition

    consumer = clients.consumer(bootstrap, None)
    try:
        found: dict[str, dict[int, int]] = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
            for tp, end in consumer.end_offsets(parts).items():
                found.setdefault(topic, {})[tp.partition] = end
        return found
    finally:
        consumer.close()


def _wait_caught_up(checkpoints: Path, bootstrap: str, topics: list[str], alive: Any) -> None:
    """Until the stream has committed every offset of ``topics``."""
    ends = _end_offsets(bootstrap, topics)
    deadline = time.monotonic() + WAIT_S
    while True:
        done = consumed(checkpoints)
        if all(done.get(t, {}).get(p, 0) >= e for t, ps in ends.items() for p, e in ps.items()):
            return
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError("the live stream did not take the poll in time")
        time.sleep(0.05)


def _paced(
    polls: list[Snapshot], checkpoints: Path, bootstrap: str, topics: list[str], alive: Any
) -> Iterator[Snapshot]:
    """The polls, each handed to ingest once the stream has committed everything before it."""
    for snap in polls:
        _wait_caught_up(checkpoints, bootstrap, topics, alive)
        yield snap
    _wait_caught_up(checkpoints, bootstrap, topics, alive)


def run_live(
    spark: Any, bootstrap: str, recording: Path, first: date, polls: int, singles: int
) -> dict[str, Any]:
    """``polls`` real polls, then ``singles`` one-record batches, through a live stream."""
    topic = f"bench.live.{uuid.uuid4().hex[:8]}"
    names = {"topic": topic, "polls_topic": f"{topic}.polls"}
    work = Path(tempfile.mkdtemp(prefix="velib-bench-live-"))
    heartbeat = IngestSettings.build().heartbeat_s
    feed = IngestSettings.build(
        {"bootstrap_servers": bootstrap, "dead_letter_topic": f"{topic}.dlq", **names}
    )
    clients.ensure_topic(bootstrap, topic, 3)
    clients.ensure_topic(bootstrap, names["polls_topic"], 1)
    settings = StreamSettings.build(
        {
            "bootstrap_servers": bootstrap,
            "alerts_topic": f"{topic}.alerts",
            "out": str(work / "out"),
            "live": True,
            "processing_time": "0.5 seconds",
            **names,
        }
    )
    from pipeline.stream.job import run_stream

    chosen = polls_of(recording, first, polls)
    stop, result = threading.Event(), {}
    runner = threading.Thread(
        target=lambda: result.update(summary=run_stream(spark, settings, stop)), daemon=True
    )
    runner.start()
    checkpoints, topics = work / "out" / "_checkpoints", [topic, names["polls_topic"]]
    try:
        paced = _paced(chosen, checkpoints, bootstrap, topics, runner.is_alive)
        fed = ingest(paced, feed, progress=False)
        _singles(chosen[-1], singles, bootstrap, topic, checkpoints, topics, runner.is_alive)
    finally:
        stop.set()
        runner.join(WAIT_S)
    summary = result["summary"]
    seconds = summary.batch_seconds
    live, fixed = seconds[: len(seconds) - singles], seconds[len(seconds) - singles :]
    return {
        "recording": str(recording),
        "polls": polls,
        "heartbeat_s": heartbeat,
        "records_per_poll": round(fed.emitted / max(1, fed.polls), 1),
        "stations_per_poll": round(fed.seen / max(1, fed.polls), 1),
        "batches": summary.batches,
        "batch_s": live,
        "single_record_batch_s": fixed,
        "median_s": round(statistics.median(live[1:]), 3),  # the first pays the warm-up
        "p95_s": round(_p95(live[1:]), 3),
        "fixed_s": round(statistics.median(fixed), 3),
        "data_s": round(statistics.median(live[1:]) - statistics.median(fixed), 3),
    }


def _singles(
    last: Snapshot,
    count: int,
    bootstrap: str,
    topic: str,
    checkpoints: Path,
    topics: list[str],
    alive: Any,
) -> None:
    """``count`` batches of one record each: a station's next state, a second later each."""
    producer = clients.producer(bootstrap)
    try:
        base = last.records[0]
        for i in range(1, count + 1):
            changed = base.replace(
                bikes_available=(base.bikes_available or 0) + i % 2,
                observed_at=base.observed_at + timedelta(seconds=i),
                last_reported=base.observed_at + timedelta(seconds=i),
            )
            producer.send(topic, key=changed.station_code, value=record.to_json(changed))
            producer.flush()
            _wait_caught_up(checkpoints, bootstrap, topics, alive)
    finally:
        producer.close()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
