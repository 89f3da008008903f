"""The main job end to end: broker -> replay ingest -> capture + Spark stream -> stop.

``make run`` and the DVC ``stream`` stage call :func:`run_chain`. It rewrites
its outputs completely (CSV folder, Parquet root with its checkpoints) so a
run depends only on its inputs and parameters, and it stops everything it
started, including the local broker, whatever happens.
"""

from __future__ import annotations

import heapq
import json
import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import config
from pipeline.capture import CaptureSummary, capture
from pipeline.ingest import IngestSummary, ingest
from pipeline.record import format_timestamp
from pipeline.sources import Snapshot, read_recorded

log = logging.getLogger(__name__)

DEFAULT_RAW = (config.ROOT / "data" / "raw" / "opendata-history",)
DEFAULT_CSV_OUT = config.ROOT / "data" / "interim" / "csv"
DEFAULT_OUT = config.ROOT / "data" / "processed"
DEFAULT_METRICS = config.ROOT / "reports" / "metrics" / "stream.json"


@dataclass
class RunSummary:
    """What the whole chain did, stage by stage."""

    bootstrap_servers: str = ""
    ingest: IngestSummary = field(default_factory=IngestSummary)
    capture: CaptureSummary = field(default_factory=CaptureSummary)
    stream: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The human summary printed at the end of `make run`."""
        rows = self.stream.get("rows", {})
        return [
            f"ingest:  {self.ingest.line()}",
            f"capture: records={self.capture.records} files={self.capture.files} "
            f"partitions={sorted(self.capture.partitions)} rejected={self.capture.rejected}",
            "stream:  records_in={} {} alerts_published={} complete_until={}".format(
                self.stream.get("records_in", 0),
                " ".join(f"{k}={v}" for k, v in sorted(rows.items())),
                self.stream.get("alerts_published", 0),
                self.stream.get("complete_until") or "-",
            ),
            "dataset: stations={stations} from {first} to {last}".format(**self.dataset)
            if self.dataset
            else "dataset: empty",
        ]


def merged_snapshots(paths: Sequence[Path]) -> Iterator[Snapshot]:
    """Snapshots of several recorded folders, merged in time order."""
    return heapq.merge(*(read_recorded(Path(p)) for p in paths), key=lambda s: s.observed_at)


def _reset(*paths: Path) -> None:
    """Remove previous outputs: a stage rewrites its outputs completely."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _dataset_facts(out_root: Path) -> dict[str, Any]:
    """Stations and time span of the Parquet status table (deterministic facts)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    status = out_root / "status"
    if not status.is_dir():
        return {}
    table = ds.dataset(status, format="parquet", partitioning="hive").to_table(
        columns=["station_code", "observed_at"]
    )
    if table.num_rows == 0:
        return {}
    span = pc.min_max(table["observed_at"]).as_py()

    def utc(value: datetime) -> str:  # Spark stores UTC instants; pyarrow may read them naive
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))

    return {
        "rows": table.num_rows,
        "stations": len(pc.unique(table["station_code"])),
        "first": utc(span["min"]),
        "last": utc(span["max"]),
    }


def write_metrics(summary: RunSummary, path: Path) -> dict[str, Any]:
    """The run's metrics as sorted JSON with no wall-clock values, so runs compare equal."""
    ing = summary.ingest
    metrics = {
        "ingest": {
            "snapshots": ing.snapshots,
            "records_seen": ing.seen,
            "emitted": ing.emitted,
            "heartbeats": ing.heartbeats,
            "unchanged": ing.unchanged,
            "rejected": ing.rejected,
            "dead_lettered": ing.dead_lettered,
            "unmapped_ids": ing.unmapped_ids,
            "rejected_by_reason": dict(sorted(ing.reasons.items())),
        },
        "capture": {
            "records": summary.capture.records,
            "files": summary.capture.files,
            "rejected": summary.capture.rejected,
        },
        "stream": {
            "records_in": summary.stream.get("records_in", 0),
            "rows": dict(sorted(summary.stream.get("rows", {}).items())),
            "alerts_published": summary.stream.get("alerts_published", 0),
            "late": summary.stream.get("late", 0),
            "complete_until": summary.stream.get("complete_until"),
        },
        "dataset": summary.dataset,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metrics


def _spark_session(stack: ExitStack) -> Any:
    """The active session, or a new one stopped (before the broker) when the run ends."""
    from pyspark.sql import SparkSession

    from pipeline.sparkenv import get_spark

    if SparkSession.getActiveSession() is not None:
        return get_spark()
    spark = get_spark("velib-run")

    def stop() -> None:
        # Spark 4.2 logs a harmless stack trace from its state-store maintenance
        # thread when the context stops under it; keep the run's output readable.
        spark.sparkContext.setLogLevel("ERROR")
        spark.stop()

    stack.callback(stop)
    return spark


def run_chain(
    raw: Sequence[Path] = DEFAULT_RAW,
    *,
    csv_out: Path = DEFAULT_CSV_OUT,
    out_root: Path = DEFAULT_OUT,
    metrics_path: Path | None = DEFAULT_METRICS,
    bootstrap_servers: str | None = None,
    heartbeat_s: float | None = None,
    idle_s: float = 5.0,
) -> RunSummary:
    """Replay ``raw`` through Kafka into CSV and Parquet, then stop what was started.

    Args:
        raw: recorded files or folders (any format ``read_recorded`` knows).
        csv_out: capture folder (rewritten).
        out_root: Parquet root, with its checkpoints (rewritten).
        metrics_path: where to write the metrics JSON; None for no file.
        bootstrap_servers: an existing cluster; None starts a local broker
            (fresh topics, so the run is reproducible). Every stage reaches it with
            the ``KAFKA_*`` security settings (SASL/SSL), Spark included.
        heartbeat_s: ingest heartbeat; default from params.yaml ``ingest``.
        idle_s: capture stops after this long with nothing new.
    """
    from pipeline.broker import LocalBroker
    from pipeline.stream import run_stream

    missing = [str(p) for p in raw if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"raw data not found: {', '.join(missing)}")
    _reset(csv_out, out_root)
    ingest_params = config.params_section("ingest")
    if heartbeat_s is None:
        heartbeat_s = float(ingest_params.get("heartbeat_s", 3600))
    config.check_stale_after(heartbeat_s, config.stream_params()["stale_after"])
    topic = config.topic_status()
    kafka_options = config.spark_kafka_options()  # Spark's login = ingest's and capture's
    summary = RunSummary()

    with ExitStack() as stack:
        if bootstrap_servers is None:
            broker = stack.enter_context(LocalBroker())
            bootstrap_servers = broker.bootstrap
        summary.bootstrap_servers = bootstrap_servers
        log.info("replaying %s into %s on %s", ", ".join(map(str, raw)), topic, bootstrap_servers)
        summary.ingest = ingest(
            merged_snapshots(raw),
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            dead_letter_topic=config.topic_dead_letter(),
            heartbeat_s=heartbeat_s,
        )
        log.info("ingest done: %s", summary.ingest.line())

        # Capture drains the topic in a thread while Spark reads it in this one.
        captured: dict[str, CaptureSummary] = {}
        errors: list[BaseException] = []

        def _capture() -> None:
            try:
                captured["summary"] = capture(
                    bootstrap_servers=bootstrap_servers,
                    topic=topic,
                    out_dir=csv_out,
                    group_id="velib-run-capture",
                    until_idle_s=idle_s,
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)

        worker = threading.Thread(target=_capture, name="capture", daemon=True)
        worker.start()
        spark = _spark_session(stack)
        result = run_stream(
            spark,
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            out_root=str(out_root),
            available_now=True,
            kafka_options=kafka_options,
        )
        summary.stream = result.as_dict()
        worker.join()
        if errors:
            raise errors[0]
        summary.capture = captured["summary"]
    summary.dataset = _dataset_facts(out_root)
    if metrics_path is not None:
        write_metrics(summary, metrics_path)
    return summary
