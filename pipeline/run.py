"""The main job end to end: broker -> replay ingest -> capture + Spark stream -> stop.

Ingest sends the status records and one poll per snapshot (the polls topic, created
by ingest); the stream reads both topics.

``make run`` and the DVC ``stream`` stage call :func:`run`. It rewrites
its outputs completely (CSV folder, Parquet export) so a run depends only on
its inputs and parameters, and it stops everything it started, including the
local broker, whatever happens.

Outputs and working state are kept apart. The stream writes its own Delta
tables and checkpoints, and capture its resume points, under
``settings.work_dir`` (``data/run/``, git-ignored, not a DVC output); once
every stage has stopped, :func:`pipeline.stream.export.export_tables` writes
the research tables into ``settings.out`` canonically, so the same inputs give
the same bytes and DVC re-runs the notebooks only when a table changed.
"""

from __future__ import annotations

import heapq
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline import lifecycle
from pipeline.capture.job import CaptureSummary
from pipeline.capture.job import run as run_capture
from pipeline.clock import paris_date
from pipeline.ingest.job import IngestSummary, ingest
from pipeline.record import format_timestamp
from pipeline.settings.run import RunSettings
from pipeline.sources.recorded import Snapshot, read_recorded

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What the whole chain did, stage by stage."""

    bootstrap_servers: str = ""
    ingest: IngestSummary = field(default_factory=IngestSummary)
    capture: CaptureSummary = field(default_factory=CaptureSummary)
    stream: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage (no metric)

    def lines(self) -> list[str]:
        """The human summary printed at the end of `make run`."""
        rows = self.stream.get("rows", {})
        return [
            f"ingest:  {self.ingest.line()}",
            f"capture: records={self.capture.records} files={self.capture.files} "
            f"partitions={sorted(self.capture.partitions)} rejected={self.capture.rejected}",
            "stream:  records_in={} polls_in={} {} alerts_published={} complete_until={}".format(
                self.stream.get("records_in", 0),
                self.stream.get("polls_in", 0),
                " ".join(f"{k}={v}" for k, v in sorted(rows.items())),
                self.stream.get("alerts_published", 0),
                self.stream.get("complete_until") or "-",
            ),
            "dataset: stations={stations} from {first} to {last}".format(**self.dataset)
            if self.dataset
            else "dataset: empty",
            "time:    "
            + ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in self.seconds.items()),
        ]


def on_dates(dates: tuple[date, date] | None) -> Callable[[datetime], bool] | None:
    """The test of a snapshot time for ``base.dates``: its Paris date is in the range."""
    if dates is None:
        return None
    first, last = dates
    return lambda at: first <= paris_date(at) <= last


def merged_snapshots(
    paths: Sequence[Path], keep: Callable[[datetime], bool] | None = None
) -> Iterator[Snapshot]:
    """Snapshots of several recorded folders, merged in time order (those ``keep`` keeps)."""
    return heapq.merge(
        *(read_recorded(Path(p), keep=keep) for p in paths), key=lambda s: s.observed_at
    )


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
    """The run's metrics, flat and few (``dvc metrics show`` stays readable), plus details.

    ``path`` gets what a reader compares across revisions; ``<stem>_details.json``
    beside it keeps every count of every stage. Both are sorted JSON with no
    wall-clock value, so two runs of the same inputs compare equal.
    """
    ing, rows = summary.ingest, summary.stream.get("rows", {})
    metrics = {
        "topic_records": ing.emitted,
        "dead_lettered": ing.dead_lettered,
        "stations": summary.dataset.get("stations", 0),
        "first": summary.dataset.get("first"),
        "complete_until": summary.stream.get("complete_until"),
        "station_windows": rows.get("indicators_station", 0),
        "alerts": rows.get("alerts", 0),
        "late": summary.stream.get("late", 0),
    }
    details = {
        "ingest": {
            "snapshots": ing.snapshots,
            "records_seen": ing.seen,
            "emitted": ing.emitted,
            "heartbeats": ing.heartbeats,
            "unchanged": ing.unchanged,
            "rejected": ing.rejected,
            "dead_lettered": ing.dead_lettered,
            "unmapped_ids": ing.unmapped_ids,
            "polls": ing.polls,
            "polls_failed": ing.polls_failed,
            "rereads": ing.poll_rereads,
            "rereads_by_kind": dict(sorted(ing.reread_kinds.items())),
            "flagged": dict(sorted((k, v) for k, v in ing.oddities.items() if v)),
            "rejected_by_reason": dict(sorted(ing.reasons.items())),
        },
        "capture": {
            "records": summary.capture.records,
            "files": summary.capture.files,
            "rejected": summary.capture.rejected,
        },
        "stream": {
            "records_in": summary.stream.get("records_in", 0),
            "polls_in": summary.stream.get("polls_in", 0),
            "rows": dict(sorted(rows.items())),
            "alerts_published": summary.stream.get("alerts_published", 0),
            "late": summary.stream.get("late", 0),
            "complete_until": summary.stream.get("complete_until"),
        },
        "dataset": summary.dataset,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, data in ((path, metrics), (details_path(path), details)):
        target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metrics


def details_path(path: Path) -> Path:
    """Where the full counts go beside a metrics file (not a DVC metric)."""
    return path.with_name(f"{path.stem}_details.json")


def _spark_session(stack: ExitStack) -> Any:
    """The active session, or a new one stopped (before the broker) when the run ends."""
    from pyspark.sql import SparkSession

    from pipeline.stream.session import get_spark

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


def run(settings: RunSettings) -> RunSummary:
    """Replay the recordings of ``settings`` through Kafka into CSV and Parquet, then stop.

    ``make run`` and the DVC ``stream`` stage call this. Outputs (and the
    working state under ``work_dir``) are rewritten completely, the Parquet
    tables exported canonically at the end; with no ``bootstrap_servers`` a
    local broker is started (fresh topics, so the run is reproducible) and
    stopped. Every stage reaches Kafka with the ``KAFKA_*`` security settings
    (SASL/SSL), Spark included.
    """
    from pipeline.kafka.broker import LocalBroker
    from pipeline.stream.export import export_tables
    from pipeline.stream.job import run as run_stream

    stages = settings.stages()  # every stage's settings, checked before anything starts
    _reset(settings.csv_out, settings.out, settings.stream_dir, settings.capture_offsets)
    summary = RunSummary()
    clock = _Stopwatch(summary.seconds)
    with ExitStack() as stack:
        stop = stack.enter_context(lifecycle.stop_on_signals())
        bootstrap = settings.bootstrap_servers
        if bootstrap is None:
            bootstrap = stack.enter_context(LocalBroker()).bootstrap
            clock.lap("broker")
        stages = stages.on(bootstrap)
        summary.bootstrap_servers = bootstrap
        log.info(
            "replaying %s%s into %s on %s",
            ", ".join(map(str, settings.raw)),
            " on Paris dates {}..{}".format(*settings.dates) if settings.dates else "",
            stages.stream.topic,
            bootstrap,
        )
        summary.ingest = ingest(
            merged_snapshots(settings.raw, on_dates(settings.dates)), stages.ingest, stop=stop
        )
        clock.lap("ingest")
        # Progress only: its summary is the run's first line at the end (RunSummary.lines).
        log.info(
            "ingest done (%d snapshots); capture and the stream follow", summary.ingest.snapshots
        )

        # Capture drains the topic in a thread while Spark reads it in this one.
        captured: dict[str, CaptureSummary] = {}
        errors: list[BaseException] = []

        def _capture() -> None:
            started = time.monotonic()
            try:
                captured["summary"] = run_capture(stages.capture, stop)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)
            captured_s.append(time.monotonic() - started)

        captured_s: list[float] = []
        worker = threading.Thread(target=_capture, name="capture", daemon=True)
        worker.start()
        summary.stream = run_stream(stages.stream, _spark_session(stack)).as_dict()
        clock.lap("stream")
        worker.join()
        if errors:
            raise errors[0]
        summary.capture = captured["summary"]
        summary.seconds["capture (beside the stream)"] = round(captured_s[0], 1)
    exported = export_tables(settings.stream_dir, settings.out)
    clock.lap("export")
    log.info("exported %s into %s", exported, settings.out)
    summary.dataset = _dataset_facts(settings.out)
    if settings.metrics is not None:
        write_metrics(summary, settings.metrics)
    summary.seconds["total"] = round(clock.total(), 1)
    return summary


class _Stopwatch:
    """Wall time of each stage of a run, into ``seconds`` as they end."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.started = self.last = time.monotonic()

    def lap(self, stage: str) -> None:
        """The time since the previous lap goes to ``stage``."""
        now = time.monotonic()
        self.seconds[stage] = round(now - self.last, 1)
        self.last = now

    def total(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started
