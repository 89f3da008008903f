"""One micro-batch of the stream job, through every output (:class:`BatchStep`).

``foreachBatch`` hands each micro-batch here. Spark does the work in two jobs:
a small one reads the batch's counts and newest times (the frontier), then one
job computes every output at once (:func:`pipeline.stream.arrow.collect`): the
per-station state pass of :mod:`pipeline.stream.timeline`, the window
indicators, the alerts, the rejects and the state for the next batch. A large
batch's big tables are written as files by Spark's tasks instead, beside that
job (:mod:`pipeline.stream.files`). The driver then commits each table through
delta-rs (:mod:`pipeline.stream.tables`; a replayed batch writes nothing
twice), publishes the alerts and commits the state (:mod:`pipeline.stream.state`).
``velib -v stream`` logs the time of each step and of each table's commit.
:class:`StreamSummary` adds the batches up for the command line and the metrics.

A batch whose frontier passes no window end is a normal batch: it writes
``status``, ``polls``, ``_rejected`` and the state, and no window or alert
row. What a batch writes depends on the records and polls, not on where the
topic was cut into batches (docs/architecture.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from pipeline import poll, vocabulary
from pipeline.clock import US, from_us
from pipeline.record import format_timestamp
from pipeline.settings import project
from pipeline.stream import arrow, files, indicators, parse, timeline
from pipeline.stream.state import State, StateStore
from pipeline.stream.tables import Commit, DeltaTables, Rows

log = logging.getLogger(__name__)

STATION_SCHEMA = vocabulary.spark_schema(vocabulary.STATION)
# Every table the stream writes, by name with its schema: the store creates, writes and
# reads exactly these.
OUTPUTS: dict[str, T.StructType] = {
    "status": indicators.status_schema(),
    "polls": T.StructType([*poll.spark_schema().fields, T.StructField("date", T.DateType())]),
    "indicators_station": STATION_SCHEMA,
    "indicators_area": vocabulary.spark_schema(vocabulary.AREA),
    "alerts": vocabulary.spark_schema(vocabulary.ALERT),
    "_rejected": parse.rejected_schema(),
}
STATE: dict[str, T.StructType] = timeline.state_schemas()  # records, polls, seen
QUERY_ID = "sql.streaming.queryId"  # the local property Spark sets inside foreachBatch
OUT_OF_ORDER = "out_of_order"  # collected with the outputs to count what the timeline left out
KEPT = "kept."  # prefix of the state frames among the collected ones
# A batch's shuffles get one partition per this many values read (at most the session's
# setting): each task of a tiny batch costs more to schedule than its rows cost to compute
VALUES_PER_PARTITION = 25_000
# Below this many values a batch runs interpreted: generating and compiling Java for each
# of its plans (a fifth of a small batch's CPU) costs more than the rows cost to compute
# (measured in docs/benchmarks.md); larger batches keep Spark's compiled default
INTERPRETED_BELOW = 25_000
# From this many values a batch's big tables are written by Spark's tasks as files and only
# committed by the driver; below it their rows come to the driver as Arrow (a live poll's
# batch: one small job, no files to list). Measured in docs/benchmarks.md.
SPARK_WRITES_FROM = 25_000
SPARK_WRITES = ("status", "indicators_station", "indicators_area")  # the tables that grow
CODEGEN = {  # Spark's settings for compiled (default) and interpreted execution
    True: {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"},
    False: {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
}


@dataclass
class StreamSummary:
    """What one run wrote: rows per output and how far the output is complete."""

    records_in: int = 0
    polls_in: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {name: 0 for name in OUTPUTS})
    alerts_published: int = 0
    late: int = 0
    batches: int = 0
    batch_seconds: list[float] = field(default_factory=list)  # each batch's, in order
    complete_until: str | None = None

    @property
    def alerts(self) -> int:
        """Alert rows written to ``alerts/`` in this run."""
        return self.rows.get("alerts", 0)

    @property
    def rejected(self) -> int:
        """Values written to ``_rejected/`` in this run."""
        return self.rows.get("_rejected", 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for metrics JSON and logs)."""
        return {**asdict(self), "alerts": self.alerts, "rejected": self.rejected}

    def line(self) -> str:
        """One line for the command line and logs."""
        rows = " ".join(f"{name}={n}" for name, n in self.rows.items())
        return (
            f"records_in={self.records_in} polls_in={self.polls_in} {rows} "
            f"alerts_published={self.alerts_published} "
            f"late={self.late} batches={self.batches} complete_until={self.complete_until or '-'}"
        )


@dataclass(frozen=True)
class Durations:
    """The stream's durations in microseconds, parsed once."""

    window_us: int
    stale_after_us: int

    @classmethod
    def parse(cls, window: str, stale_after: str) -> Durations:
        """From texts like '15 minutes' and '2 hours'; ValueError with the option's name."""
        parsed = {}
        for name, text in (("window", window), ("stale_after", stale_after)):
            try:
                parsed[name] = round(project.parse_duration(text).total_seconds() * US)
            except ValueError as exc:
                raise ValueError(f"stream {name}: {exc}") from None
        return cls(parsed["window"], parsed["stale_after"])


def _iso(us: int | None) -> str | None:
    return None if us is None else format_timestamp(from_us(us))


class Timer:
    """The seconds of each step of one batch, for ``velib -v stream``."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        """The time since the previous lap goes to ``step``."""
        now = time.monotonic()
        self.steps[step] = self.steps.get(step, 0.0) + now - self.last
        self.last = now

    def total(self) -> float:
        """Seconds since the batch started."""
        return time.monotonic() - self.started

    def line(self) -> str:
        """``parse 0.41 s, outputs 1.20 s, ...``."""
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.steps.items())


class BatchStep:
    """The ``foreachBatch`` function: one micro-batch through every output.

    Args:
        tables: the output tables (delta-rs commits).
        state: the state between batches.
        durations: window and stale threshold.
        publish: sends a batch's alert rows to the alerts topic, returns how many (or None).
        summary: counts added up across batches.
        polls_topic: the polls topic, read in the same query (its rows are polls).
        app_id: the idempotency key; default the streaming query's id, read in the batch
            (a call outside a streaming query needs one given).
        spark_writes_from: from this many values read, a batch's big tables are written
            as files by Spark's tasks (:data:`SPARK_WRITES_FROM`).
    """

    def __init__(
        self,
        tables: DeltaTables,
        state: StateStore,
        durations: Durations,
        publish: Callable[[pa.Table], int] | None,
        summary: StreamSummary,
        polls_topic: str | None = None,
        app_id: str | None = None,
        spark_writes_from: int = SPARK_WRITES_FROM,
    ) -> None:
        self.tables = tables
        self.spark_writes_from = spark_writes_from
        self.state = state
        self.polls_topic = polls_topic
        self.d = durations
        self.publish = publish
        self.summary = summary
        self.app_id = app_id
        self.max_partitions: int | None = None  # the session's shuffle partitions, read once
        self.idle = threading.Event()  # clear while a batch runs: a clean stop waits for it
        self.idle.set()

    def __call__(self, raw: DataFrame, batch_id: int) -> None:
        """Process one micro-batch (re-run with the same id and input after a crash)."""
        timer = Timer()
        keep: list[DataFrame] = []
        self.idle.clear()

        def cached(frame: DataFrame) -> DataFrame:
            keep.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
            return frame

        try:
            counts = self._process(raw, batch_id, cached, timer)
        finally:
            # newest first: uncaching a frame another cached frame was built on makes
            # Spark re-plan that one (measured: ~20 s a batch in creation order)
            for frame in reversed(keep):
                frame.unpersist()
            self.idle.set()
        self._report(batch_id, counts, timer)

    def _app(self, raw: DataFrame) -> str:
        app = self.app_id or raw.sparkSession.sparkContext.getLocalProperty(QUERY_ID)
        if not app:
            raise RuntimeError("no streaming query id: run from foreachBatch, or give app_id")
        return app

    def _partitions(self, spark: SparkSession, values: int) -> int:
        """The batch's shuffle partitions, set for its jobs.

        One per :data:`VALUES_PER_PARTITION` values read, at most the session's own
        setting: a live poll's batch runs each step as one task. Below
        :data:`INTERPRETED_BELOW` values the batch's plans also run interpreted.
        """
        if self.max_partitions is None:  # the launch setting: earlier batches changed the session's
            key = "spark.sql.shuffle.partitions"
            launched = spark.sparkContext.getConf().get(key) or spark.conf.get(key)
            self.max_partitions = int(launched or 1)
        partitions = max(1, min(self.max_partitions, -(-values // VALUES_PER_PARTITION)))
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        for key, value in CODEGEN[values >= INTERPRETED_BELOW].items():
            spark.conf.set(key, value)
        return partitions

    def _outputs(self, step: timeline.Step, parsed: DataFrame) -> dict[str, DataFrame]:
        """The batch's frame for every table it writes (no window table when none closed)."""
        frames = {
            "status": step.status,
            "polls": step.polls,
            "_rejected": parse.rejected_rows(parsed, step.out_of_order),
        }
        if step.windows is not None:
            frames["indicators_station"] = step.windows.stations
            frames["indicators_area"] = indicators.area_rows(
                step.windows.stations, self.d.window_us / US, step.windows.polls
            )
            frames["alerts"] = step.windows.alerts
        return frames

    def _process(self, raw: DataFrame, batch_id: int, cached: Any, timer: Timer) -> dict[str, Any]:
        app = self._app(raw)
        spark = raw.sparkSession
        parsed = cached(parse.parse_values(raw, self.polls_topic))
        facts = parse.batch_facts(parsed)
        timer.lap("read and parse")
        # coalesce never adds partitions: a batch read in fewer keeps its own count
        parsed = parsed.coalesce(self._partitions(spark, facts.records + facts.polls))
        before = self.state.load(batch_id)
        frontier = before.frontier.advance(
            facts.records_newest_us, facts.polls_newest_us, self.d.window_us
        )
        kept = {n: arrow.to_spark(spark, before.frames[n], STATE[n]) for n in STATE}
        timer.lap("state in")
        step = timeline.advance(
            kept,
            parse.valid_records(parsed, with_position=True),
            cached(parse.valid_polls(parsed)),
            lo_us=before.frontier.complete_until_us,
            hi_us=frontier.complete_until_us,
            window_us=self.d.window_us,
            stale_after_us=self.d.stale_after_us,
            cache=cached,
        )
        outputs = self._outputs(step, parsed)
        timer.lap("plan")
        large = facts.records + facts.polls >= self.spark_writes_from
        to_files = {n: f for n, f in outputs.items() if large and n in SPARK_WRITES}
        rows, written = self._run(
            {
                **{n: f for n, f in outputs.items() if n not in to_files},
                OUT_OF_ORDER: step.out_of_order,
                **{KEPT + name: frame for name, frame in step.kept.items()},
            },
            to_files,
            app,
            batch_id,
        )
        timer.lap("run")
        batch: dict[str, Rows] = {n: written[n] if n in written else rows[n] for n in outputs}
        commits = self.tables.commit_all(batch, app, batch_id)
        timer.lap("tables")
        published = 0
        if self.publish is not None and "alerts" in rows and rows["alerts"].num_rows:
            published = self.publish(rows["alerts"])
        timer.lap("alerts published")
        after = State({name: rows[KEPT + name] for name in STATE}, frontier)
        self.state.save(batch_id, after, app)
        timer.lap("state out")
        late = rows[OUT_OF_ORDER].filter(pa.compute.invert(rows[OUT_OF_ORDER]["is_poll"]))
        return {
            "records_in": facts.records,
            "polls_in": facts.polls,
            "late": late.num_rows,
            "complete_until_us": frontier.complete_until_us,
            "published": published,
            "commits": commits,
        }

    def _run(
        self,
        collect: Mapping[str, DataFrame],
        to_files: Mapping[str, DataFrame],
        app: str,
        batch_id: int,
    ) -> tuple[dict[str, pa.Table], dict[str, list[files.DataFile]]]:
        """Collect some frames as Arrow and write others as table files, the jobs side by side.

        A table that already holds the batch (a replay after a crash that came
        after its commit) is not written again: its rows are empty here.
        """
        with ThreadPoolExecutor(max_workers=1 + len(to_files)) as pool:
            collected = pool.submit(arrow.collect, collect)
            written = {
                name: pool.submit(self._write, name, frame, app, batch_id)
                for name, frame in to_files.items()
            }
        return collected.result(), {name: w.result() for name, w in written.items()}

    def _write(self, name: str, frame: DataFrame, app: str, batch_id: int) -> list[files.DataFile]:
        if self.tables.has(name, app, batch_id):
            return []
        return files.write(frame, self.tables.path(name), batch_id)

    def _report(self, batch_id: int, counts: dict[str, Any], timer: Timer) -> None:
        s = self.summary
        s.batches += 1
        s.batch_seconds.append(round(timer.total(), 3))
        s.records_in += counts["records_in"]
        s.polls_in += counts["polls_in"]
        s.late += counts["late"]
        s.alerts_published += counts["published"]
        commits: list[Commit] = counts["commits"]
        for commit in commits:
            s.rows[commit.table] += commit.rows
        s.complete_until = _iso(counts["complete_until_us"]) or s.complete_until
        log.info(
            "stream batch %d: %s, late %d, complete until %s, %.1f s",
            batch_id,
            " ".join(f"{c.table}+{c.rows}" for c in commits),
            counts["late"],
            s.complete_until or "-",
            timer.total(),
        )
        log.debug("stream batch %d steps: %s", batch_id, timer.line())
        log.debug(
            "stream batch %d commits: %s",
            batch_id,
            ", ".join(
                f"{c.table} {c.seconds:.3f} s{'' if c.written else ' (none)'}" for c in commits
            ),
        )
