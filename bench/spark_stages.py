"""The Spark job beside a plain Kafka -> Parquet copy, and the whole chain end to end."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.settings.run import RunSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import Snapshot


def run_stream_job(spark: Any, bootstrap: str, topic: str, alerts_topic: str) -> dict[str, Any]:
    """`velib stream --available-now`: every output and the alerts publication."""
    from bench.kafka_stages import polls_topic_of
    from pipeline.stream.job import run_stream

    out = Path(tempfile.mkdtemp(prefix="velib-bench-stream-"))
    try:
        summary = run_stream(
            spark,
            StreamSettings.build(
                {
                    "bootstrap_servers": bootstrap,
                    "topic": topic,
                    "polls_topic": polls_topic_of(topic),
                    "out": str(out),
                    "alerts_topic": alerts_topic,
                }
            ),
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"records": summary.records_in, "rows": dict(summary.rows)}


def run_plain_copy(spark: Any, bootstrap: str, topic: str) -> dict[str, Any]:
    """Ceiling: the same Kafka source straight to Parquet, no parsing, same session."""
    from pipeline.stream.job import read_kafka

    out = Path(tempfile.mkdtemp(prefix="velib-bench-copy-"))
    try:
        raw = read_kafka(spark, bootstrap_servers=bootstrap, topic=topic)
        query = (
            raw.writeStream.format("parquet")
            .option("path", str(out / "data"))
            .option("checkpointLocation", str(out / "_checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        records = sum(int(p["numInputRows"]) for p in query.recentProgress)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"records": records}


def run_chain_scaled(snapshots: Iterator[Snapshot], history: Path) -> dict[str, Any]:
    """`velib run` on the scaled workload: its own broker, ingest, capture + stream, stop.

    ``pipeline.run.run`` reads its input through ``pipeline.run.merged_snapshots``;
    the bench hands it the scaled snapshots there instead of files, so
    everything else runs exactly as `make run` does.
    """
    import pipeline.run as run_module

    out = Path(tempfile.mkdtemp(prefix="velib-bench-e2e-"))
    original = run_module.merged_snapshots
    run_module.merged_snapshots = lambda _paths, _keep=None: snapshots
    try:
        settings = RunSettings.build(
            {
                "raw": [history],
                "csv_out": out / "csv",
                "out": out / "processed",
                "work_dir": out / "run",
            }
        )
        summary = run_module.run(settings.replace(metrics=None))
    finally:
        run_module.merged_snapshots = original
        shutil.rmtree(out, ignore_errors=True)
    return {
        "seen": summary.ingest.seen,
        "emitted": summary.ingest.emitted,
        "captured": summary.capture.records,
        "stream_records_in": summary.stream.get("records_in", 0),
    }


def run_recording(spark: Any, bootstrap: str) -> dict[str, Any]:
    """`velib run` on the default recording (the bench's broker, so its topics stay), per stage.

    Then its two ceilings: the parse of the same files alone (what ingest cannot beat)
    and Spark's plain Kafka -> Parquet copy of the same topics (what the stream cannot).
    """
    import os
    import time

    from pipeline.run import merged_snapshots, on_dates, run

    out = Path(tempfile.mkdtemp(prefix="velib-bench-run-"))
    topic = f"bench.run.{os.getpid()}.{int(time.time())}"
    names = {"STATUS": topic, "POLLS": f"{topic}.polls", "ALERTS": f"{topic}.alerts",
             "DEAD_LETTER": f"{topic}.dlq"}  # fmt: skip
    saved = {k: os.environ.get(f"VELIB_TOPIC_{k}") for k in names}
    os.environ.update({f"VELIB_TOPIC_{k}": v for k, v in names.items()})
    try:
        settings = RunSettings.build(
            {
                "csv_out": out / "csv",
                "out": out / "processed",
                "work_dir": out / "run",
                "bootstrap_servers": bootstrap,
            }  # fmt: skip
        )  # params.yaml's recording and dates, as `make run`
        summary = run(settings.replace(metrics=None))
        started = time.perf_counter()
        rows = sum(len(s.records) for s in merged_snapshots(settings.raw, on_dates(settings.dates)))
        parse_s = time.perf_counter() - started
        started = time.perf_counter()
        copied = run_plain_copy(spark, bootstrap, f"{topic},{names['POLLS']}")
        copy_s = time.perf_counter() - started
    finally:
        for k, v in saved.items():
            os.environ.pop(f"VELIB_TOPIC_{k}", None) if v is None else os.environ.update(
                {f"VELIB_TOPIC_{k}": v}
            )
        shutil.rmtree(out, ignore_errors=True)
    return {
        "recording": ", ".join(map(str, settings.raw)),
        "dates": [str(d) for d in settings.dates] if settings.dates else None,
        "seconds": summary.seconds,
        "seen": summary.ingest.seen,
        "emitted": summary.ingest.emitted,
        "polls": summary.ingest.polls,
        "captured": summary.capture.records,
        "stream_records_in": summary.stream.get("records_in", 0),
        "stream_batches": summary.stream.get("batches", 0),
        "rows": summary.stream.get("rows", {}),
        "parse_rows": rows,
        "parse_s": round(parse_s, 2),
        "plain_copy_records": copied["records"],
        "plain_copy_s": round(copy_s, 2),
    }
