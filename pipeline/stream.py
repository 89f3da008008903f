"""The stream job: Kafka -> clean Parquet, indicators over time, alerts (Spark).

One Structured Streaming query reads the status topic (native Kafka source)
and hands each micro-batch to :class:`BatchStep`, which parses it once and
runs the per-station state pass of :mod:`pipeline.timeline` in the JVM:

========================  ======================================================
``status/``               every valid record (``record.FIELDS`` + ``date``),
                          without repeats of a station's previous
                          (last_reported, state)
``indicators_station/``   per station and window, over the time in force
``indicators_area/``      per window and network / commune / arrondissement
``alerts/``               condition changes, stale and back; also published
                          as JSON (key = station code) to the alerts topic
``_rejected/``            values that failed parsing, with the reason
========================  ======================================================

Columns and their meaning: :mod:`pipeline.vocabulary`.

Completeness. A window or an alert is written once every record observed
before its end has arrived: the least, over the topic's partitions, of the
newest ``observed_at`` read (:func:`pipeline.timeline.frontier`). Partitions
may advance unevenly (small ``maxOffsetsPerTrigger``, a lagging broker): that
only delays output, it never drops a record as late. The newest windows
appear on a later run. A record observed before that frontier when it arrives
(two producers on one topic) is counted as ``late`` and kept in ``status/``.

Guarantees. Parquet outputs are exactly-once (:mod:`pipeline.batchstore`
replaces a replayed batch's files); the alerts topic is at-least-once (a crash
between send and commit re-sends that batch). Delete the outputs and the
checkpoints together, never one without the other. Paths are plain strings,
so ``s3a://``, ``abfss://`` and ``dbfs:/`` roots work; see docs/cluster.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from pipeline import alerts, config, indicators, lifecycle, timeline, vocabulary
from pipeline.batchstore import BatchStore, join_path
from pipeline.settings import StreamSettings

log = logging.getLogger(__name__)

OUTPUTS: tuple[str, ...] = (
    "status",
    "indicators_station",
    "indicators_area",
    "alerts",
    "_rejected",
)
QUERY = "velib.stream"
STATION_SCHEMA = vocabulary.spark_schema(vocabulary.STATION)


@dataclass
class StreamSummary:
    """What one run wrote: rows per output and how far the output is complete."""

    records_in: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {name: 0 for name in OUTPUTS})
    alerts_published: int = 0
    late: int = 0
    batches: int = 0
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
            f"records_in={self.records_in} {rows} alerts_published={self.alerts_published} "
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
                parsed[name] = int(config.parse_duration(text).total_seconds() * 1_000_000)
            except ValueError as exc:
                raise ValueError(f"stream {name}: {exc}") from None
        return cls(parsed["window"], parsed["stale_after"])


def read_kafka(
    spark: SparkSession,
    *,
    bootstrap_servers: str,
    topic: str,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    kafka_options: Mapping[str, str] | None = None,
) -> DataFrame:
    """The status topic as a streaming DataFrame (native Kafka source, no data loss stop)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    for key, value in (kafka_options or {}).items():
        reader = reader.option(key, value)
    return reader.load()


def _iso(us: int | None) -> str | None:
    from datetime import UTC, datetime

    from pipeline.record import format_timestamp

    if us is None:
        return None
    return format_timestamp(datetime.fromtimestamp(us / 1_000_000, tz=UTC))


class BatchStep:
    """The ``foreachBatch`` function: one micro-batch through every output.

    Args:
        store: where tables and state go.
        durations: window and stale threshold.
        publish: writes the batch's alert rows to the alerts topic (or None).
        summary: counts added up across batches.
    """

    def __init__(
        self,
        store: BatchStore,
        durations: Durations,
        publish: Any,
        summary: StreamSummary,
    ) -> None:
        self.store = store
        self.d = durations
        self.publish = publish
        self.summary = summary

    def __call__(self, raw: DataFrame, batch_id: int) -> None:
        """Process one micro-batch (re-run with the same id and input after a crash)."""
        started = time.monotonic()
        keep: list[DataFrame] = []

        def cached(frame: DataFrame) -> DataFrame:
            keep.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
            return frame

        try:
            counts = self._process(raw, batch_id, cached)
        finally:
            for frame in keep:
                frame.unpersist()
        self._report(batch_id, counts, time.monotonic() - started)

    def _process(self, raw: DataFrame, batch_id: int, cached: Any) -> dict[str, Any]:
        started = time.monotonic()
        parsed = cached(indicators.parse_values(raw))
        kept, meta = self.store.load_state(batch_id, timeline.state_schema())
        step = timeline.advance(
            kept,
            indicators.valid_records(parsed, with_position=True),
            complete_until_us=meta.get("complete_until_us"),
            partition_newest_us={int(k): v for k, v in meta.get("partition_newest_us", {}).items()},
            window_us=self.d.window_us,
            stale_after_us=self.d.stale_after_us,
            cache=cached,
        )
        log.debug("batch %d: parsed and ordered in %.2f s", batch_id, time.monotonic() - started)
        frames = dict(step.frames)
        frames["_rejected"] = indicators.rejected_rows(parsed, frames.pop("out_of_order"))
        counts: dict[str, Any] = {"late": step.late, "complete_until_us": step.complete_until_us}
        for name, frame in frames.items():
            self._write(name, frame, batch_id, counts)
            if name == "indicators_station":  # roll up the rows just written, not recompute
                written = self.store.read_batch(name, batch_id, STATION_SCHEMA)
                area = indicators.area_rows(written, self.d.window_us / 1e6)
                self._write("indicators_area", area, batch_id, counts)
        started = time.monotonic()
        if self.publish is not None and counts.get("alerts"):
            self.publish(frames["alerts"])
            counts["published"] = counts["alerts"]
        log.debug("batch %d: alerts published in %.2f s", batch_id, time.monotonic() - started)
        started = time.monotonic()
        self.store.save_state(
            batch_id,
            step.kept,
            {
                "complete_until_us": step.complete_until_us,
                "partition_newest_us": {str(k): v for k, v in step.partition_newest_us.items()},
            },
        )
        log.debug("batch %d: state saved in %.2f s", batch_id, time.monotonic() - started)
        # _rejected holds the unparsable values and the valid records left out of order
        counts["records_in"] = step.records + counts["_rejected"] - step.late
        return counts

    def _write(self, name: str, frame: DataFrame, batch_id: int, counts: dict[str, Any]) -> None:
        """Write one output of the batch and count its rows on the way (no extra job)."""
        seen = Observation(f"velib_{name.strip('_')}_{batch_id}")
        started = time.monotonic()
        self.store.write(name, frame.observe(seen, F.count(F.lit(1)).alias("n")), batch_id)
        counts[name] = int(seen.get.get("n", 0))
        log.debug(
            "batch %d: %s %d rows in %.2f s",
            batch_id,
            name,
            counts[name],
            time.monotonic() - started,
        )

    def _report(self, batch_id: int, counts: dict[str, Any], seconds: float) -> None:
        s = self.summary
        s.batches += 1
        s.records_in += counts["records_in"]
        s.late += counts["late"]
        s.alerts_published += counts.get("published", 0)
        for name in OUTPUTS:
            s.rows[name] += counts.get(name, 0)
        s.complete_until = _iso(counts["complete_until_us"]) or s.complete_until
        log.info(
            "stream batch %d: %s, late %d, complete until %s, %.1f s",
            batch_id,
            " ".join(f"{n}+{counts.get(n, 0)}" for n in OUTPUTS),
            counts["late"],
            s.complete_until or "-",
            seconds,
        )


def run_stream(
    spark: SparkSession,
    *,
    bootstrap_servers: str,
    topic: str,
    out_root: str,
    checkpoints: str | None = None,
    available_now: bool = True,
    processing_time: str | None = None,
    window: str | None = None,
    stale_after: str | None = None,
    alerts_topic: str | None = None,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    kafka_options: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> StreamSummary:
    """Run the stream job until the topic is drained (``available_now``) or stopped.

    Args:
        spark: the session (``pipeline.sparkenv.get_spark()`` locally; the
            platform's on a cluster). Its time zone is set to UTC.
        bootstrap_servers: Kafka bootstrap servers, ``host:port[,host:port]``.
        topic: the station-status topic.
        out_root: output root (local path or URI); outputs go to ``OUTPUTS``.
        checkpoints: checkpoint root; default ``out_root/_checkpoints``.
            Delete it together with the outputs, never one without the other.
        available_now: process everything in the topic, then stop; else run
            live with ``processing_time`` micro-batches until interrupted.
        processing_time: live trigger interval, e.g. ``"30 seconds"``.
        window: tumbling window of the indicators, e.g. ``"15 minutes"``.
        stale_after: no record for longer than this makes a station unknown.
            Durations left None come from ``StreamSettings`` (params.yaml ``stream:``).
        alerts_topic: where alerts are published; default ``config.topic_alerts()``.
        starting_offsets: ``earliest``, ``latest`` or Spark's JSON offsets,
            used only on the first run (then the checkpoint decides).
        max_offsets_per_trigger: cap per micro-batch (None: all available).
        kafka_options: extra source/sink options, e.g.
            ``{"kafka.security.protocol": "SASL_SSL", "kafka.sasl.jaas.config": ...}``.
        stop: live runs end when it is set (and on SIGINT/SIGTERM in the main thread);
            a batch cut short is replayed, whole, by the next run.

    Returns:
        The run's counts (records read, rows per output, alerts published).
    """
    tracked = StreamSettings.build()  # params.yaml for what the caller left out
    durations = Durations.parse(window or tracked.window, stale_after or tracked.stale_after)
    trigger_every = config.spark_interval(processing_time or tracked.processing_time)
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    checkpoints = checkpoints or join_path(out_root, "_checkpoints")
    alerts_topic = alerts_topic or config.topic_alerts()
    store = BatchStore(spark, out_root, checkpoints)
    store.ensure_tables(OUTPUTS)
    _ensure_topic(bootstrap_servers, alerts_topic)

    def publish(rows: DataFrame) -> None:
        writer = (
            alerts.alerts_json(rows)
            .write.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap_servers)
            .option("topic", alerts_topic)
        )
        for key, value in (kafka_options or {}).items():
            if key.startswith("kafka."):
                writer = writer.option(key, value)
        writer.save()

    summary = StreamSummary()
    step = BatchStep(store, durations, publish, summary)
    raw = read_kafka(
        spark,
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        starting_offsets=starting_offsets,
        max_offsets_per_trigger=max_offsets_per_trigger,
        kafka_options=kafka_options,
    )
    writer = (
        raw.writeStream.queryName(QUERY)
        .foreachBatch(step)
        .option("checkpointLocation", join_path(checkpoints, "stream"))
    )
    writer = (
        writer.trigger(availableNow=True)
        if available_now
        else writer.trigger(processingTime=trigger_every)
    )
    log.info("stream %s -> %s (checkpoints %s)", topic, out_root, checkpoints)
    query = writer.start()
    try:
        if available_now:
            query.awaitTermination()
        else:
            with lifecycle.stop_on_signals(stop) as stopping:
                while not stopping.is_set() and not query.awaitTermination(1.0):
                    pass
            log.info("stream stopping (signal or stop)")
    finally:
        if query.isActive:
            query.stop()
    log.info("stream done: %s", summary.line())
    return summary


def _ensure_topic(bootstrap_servers: str, topic: str) -> None:
    """Create the alerts topic when we can; a managed cluster may forbid it (then it must exist)."""
    from pipeline import kafka_io
    from pipeline.kafka_security import KafkaAuthError

    try:
        kafka_io.ensure_topic(bootstrap_servers, topic, partitions=1)
    except KafkaAuthError:
        raise  # a refused login is the user's to fix, not a warning
    except Exception as exc:  # noqa: BLE001 - the sink reports a missing topic itself
        log.warning("could not check/create topic %s: %s", topic, exc)


def run(
    settings: StreamSettings,
    spark: SparkSession | None = None,
    stop: threading.Event | None = None,
) -> StreamSummary:
    """``velib stream``: run the job as ``settings`` say (a local session unless given one)."""
    from pipeline import kafka_io
    from pipeline.sparkenv import get_spark

    options = settings.kafka_options()
    kafka_io.check_login(settings.bootstrap_servers)  # one line now, not a Spark stack trace
    return run_stream(
        spark or get_spark("velib-stream", settings.master),
        bootstrap_servers=settings.bootstrap_servers,
        topic=settings.topic,
        out_root=settings.out,
        checkpoints=settings.checkpoints,
        available_now=not settings.live,
        processing_time=settings.processing_time,
        window=settings.window,
        stale_after=settings.stale_after,
        alerts_topic=settings.alerts_topic,
        starting_offsets=settings.starting_offsets,
        max_offsets_per_trigger=settings.max_offsets_per_trigger,
        kafka_options=options,
        stop=stop,
    )
