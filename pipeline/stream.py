"""The stream job: Kafka -> clean Parquet, windowed indicators, alerts (Spark).

One call of :func:`run_stream` runs one Structured Streaming query per output,
each with its own checkpoint. Only ``status`` and ``_rejected`` read the
status topic (native Kafka source) and parse it; ``indicators_station`` and
``alerts`` read the committed ``status/`` files, ``indicators_area`` rolls up
the committed ``indicators_station/`` rows (a file sink feeding a file source
is exactly-once), and a last query publishes ``alerts/`` to Kafka. With
``availableNow`` these stages run one after the other:

========================  ======================================================
``status/``               every valid record (``record.FIELDS`` + ``date``),
                          deduplicated on (station_code, last_reported, state)
``indicators_station/``   per station and tumbling window (see ``indicators``)
``indicators_area/``      per commune / Paris arrondissement and window
``alerts/``               alert transitions (see ``alerts``); then published
                          as JSON (key = station code) to the alerts topic
``_rejected/``            values that failed parsing, with the reason
========================  ======================================================

Guarantees. Parquet outputs are exactly-once (file sink + checkpoint); a
restart resumes from the checkpoints. Downstream queries remember which
upstream files they read, so delete all outputs and checkpoints together.
Status dedup uses
``dropDuplicatesWithinWatermark`` with the watermark on ``observed_at`` (the
ingest time, which only moves forward), so a re-sent record is dropped but a
station whose own ``last_reported`` is days old (real: back to 2018) is not
thrown away as late. Indicators and alerts use event time ``last_reported``
with the configured watermark (and the same dedup, so a re-sent record is
counted once): windows are written once the watermark passes
their end (append mode), so the newest windows appear on a later run; reports
older than the watermark when they arrive are dropped from indicators and
alerts (counted in the progress line as ``late``). Alerts go to Kafka from the
committed ``alerts/`` files (at-least-once: a crash between
send and commit re-sends that batch; the Parquet mirror has each transition
once).

Paths are plain strings, so ``s3a://``, ``abfss://`` and ``dbfs:/`` roots work
as well as local directories; see docs/cluster.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from pipeline import alerts, config, indicators

log = logging.getLogger(__name__)

OUTPUTS: tuple[str, ...] = (
    "status",
    "indicators_station",
    "indicators_area",
    "alerts",
    "_rejected",
)
PUBLISH = "alerts_kafka"  # checkpoint name of the alerts -> Kafka query


@dataclass
class StreamSummary:
    """What one run wrote: rows per output, as reported by the queries' progress."""

    records_in: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    alerts_published: int = 0
    late_dropped: int = 0
    batches: int = 0

    @property
    def alerts(self) -> int:
        """Alert transitions written to ``alerts/`` in this run."""
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
            f"late_dropped={self.late_dropped} batches={self.batches}"
        )


def join_path(root: str, name: str) -> str:
    """``root/name`` for local paths and URIs alike (no pathlib: s3a:// must survive)."""
    return f"{root.rstrip('/')}/{name}"


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


def kafka_outputs(raw: DataFrame, *, watermark: str) -> dict[str, DataFrame]:
    """``status`` and ``_rejected`` of the raw Kafka stream (the only queries that parse JSON)."""
    parsed = indicators.parse_values(raw)
    deduped = (
        indicators.valid_records(parsed)
        .withWatermark("observed_at", watermark)
        .dropDuplicatesWithinWatermark(indicators.dedup_key())
    )
    return {
        "status": indicators.status_rows(deduped),
        "_rejected": indicators.rejected_rows(parsed),
    }


def event_outputs(
    records: DataFrame, *, window: str, watermark: str, stale_after: str
) -> dict[str, DataFrame]:
    """``indicators_station`` and ``alerts`` of status records, in event time."""
    # A re-sent record must not count twice, and any copy arriving after the watermark
    # would be dropped as late anyway.
    timed = records.withWatermark("last_reported", watermark).dropDuplicatesWithinWatermark(
        indicators.dedup_key()
    )
    return {
        "indicators_station": indicators.station_indicators(timed, window),
        "alerts": alerts.alerts_stream(timed, stale_after),
    }


def _trigger(writer: Any, available_now: bool, processing_time: str) -> Any:
    return (
        writer.trigger(availableNow=True)
        if available_now
        else writer.trigger(processingTime=processing_time)
    )


def _log_progress(query: StreamingQuery, seen: dict[str, int], summary: StreamSummary) -> None:
    """Log one line per new micro-batch of ``query`` and add its counts to ``summary``."""
    name = query.name or query.id
    for p in query.recentProgress:
        batch = int(p.batchId)
        if batch <= seen.get(name, -1):
            continue
        seen[name] = batch
        n_in = int(p.numInputRows)
        out = p.sink.numOutputRows if p.sink is not None else -1
        metric = (p.observedMetrics or {}).get(_metric(name.removeprefix("velib.")))
        if metric is not None:
            out = int(metric["rows"])
        late = sum(int(op.numRowsDroppedByWatermark) for op in (p.stateOperators or []))
        wm = (p.eventTime or {}).get("watermark", "-")
        log.info(
            "%s batch %d: %d rows in, %.1f rows/s in, %.1f rows/s processed, %d ms, "
            "%s rows out, late %d, watermark %s",
            name,
            batch,
            n_in,
            float(p.inputRowsPerSecond or 0.0),
            float(p.processedRowsPerSecond or 0.0),
            int((p.durationMs or {}).get("triggerExecution", 0)),
            out,
            late,
            wm,
        )
        summary.batches += 1
        output = name.removeprefix("velib.")
        if output == "status":
            summary.records_in += n_in
        if output == PUBLISH:
            summary.alerts_published += max(int(out), 0)
        elif output in OUTPUTS:
            summary.rows[output] = summary.rows.get(output, 0) + max(int(out), 0)
            summary.late_dropped += late


def _metric(output: str) -> str:
    return f"velib_{output.strip('_')}_rows"


def _watch(queries: list[StreamingQuery], summary: StreamSummary, poll_s: float = 0.5) -> None:
    """Wait for the queries to end, logging progress; re-raise a query's failure."""
    seen: dict[str, int] = {}
    try:
        while any(q.isActive for q in queries):
            for q in queries:
                _log_progress(q, seen, summary)
                if q.exception() is not None:
                    raise q.exception()  # type: ignore[misc]
            # returns as soon as that query ends (a sleep cost up to poll_s per stage)
            active = [q for q in queries if q.isActive]
            if active:
                active[0].awaitTermination(poll_s)
        for q in queries:
            q.awaitTermination()  # raises the query's error, if any
            _log_progress(q, seen, summary)
    except BaseException:
        for q in queries:
            if q.isActive:
                q.stop()
        raise


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
    watermark: str | None = None,
    stale_after: str | None = None,
    alerts_topic: str | None = None,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    kafka_options: Mapping[str, str] | None = None,
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
        watermark: how late (event time) a report may arrive and still count.
        stale_after: no report for longer than this makes a station stale.
            Durations left None come from params.yaml ``stream:`` (else
            ``config.STREAM_DEFAULTS``), so every caller runs the tracked parameters.
        alerts_topic: where alerts are published; default ``config.topic_alerts()``.
        starting_offsets: ``earliest``, ``latest`` or Spark's JSON offsets,
            used only on the first run (then the checkpoint decides).
        max_offsets_per_trigger: cap per micro-batch (None: all available).
        kafka_options: extra source/sink options, e.g.
            ``{"kafka.security.protocol": "SASL_SSL", "kafka.sasl.jaas.config": ...}``.

    Returns:
        The run's counts (records read, rows per output, alerts published).
    """
    params = config.stream_params()
    given = {
        "window": window,
        "watermark": watermark,
        "stale_after": stale_after,
        "processing_time": processing_time,
    }
    durations = {name: value or params[name] for name, value in given.items()}
    try:  # '30s' and '2 hours' alike become '30 seconds', '7200 seconds' for Spark
        norm = {name: alerts.spark_interval(text) for name, text in durations.items()}
    except ValueError as exc:
        raise ValueError(f"stream durations: {exc}") from None
    window, watermark = norm["window"], norm["watermark"]
    stale_after, processing_time = norm["stale_after"], norm["processing_time"]
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    checkpoints = checkpoints or join_path(out_root, "_checkpoints")
    alerts_topic = alerts_topic or config.topic_alerts()
    raw = read_kafka(
        spark,
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        starting_offsets=starting_offsets,
        max_offsets_per_trigger=max_offsets_per_trigger,
        kafka_options=kafka_options,
    )

    def table(name: str, schema: T.StructType) -> DataFrame:
        return spark.readStream.schema(schema).parquet(join_path(out_root, name))

    # Only status and _rejected read and parse Kafka; the event-time outputs chain from
    # the committed files of status/ and area rows roll up the committed station rows
    # (file sink -> file source keeps exactly-once). A stage is built once the queries
    # it reads from have started (a file source needs its folder); under availableNow
    # it also starts only when they have finished, so it sees all they committed.
    stages: list[Callable[[], dict[str, DataFrame]]] = [
        lambda: kafka_outputs(raw, watermark=watermark),
        lambda: event_outputs(
            table("status", indicators.status_schema()).drop("date"),
            window=window,
            watermark=watermark,
            stale_after=stale_after,
        ),
        lambda: {
            "indicators_area": indicators.area_from_station_rows(
                table("indicators_station", indicators.station_schema(spark)).withWatermark(
                    "window_end", "0 seconds"
                )
            )
        },
    ]
    summary = StreamSummary(rows={name: 0 for name in OUTPUTS})
    log.info("stream %s -> %s (checkpoints %s)", topic, out_root, checkpoints)
    start = functools.partial(
        _start_file_query,
        out_root=out_root,
        checkpoints=checkpoints,
        available_now=available_now,
        processing_time=processing_time,
    )
    publish = functools.partial(
        _publish_alerts,
        spark,
        out_root=out_root,
        checkpoints=checkpoints,
        bootstrap_servers=bootstrap_servers,
        alerts_topic=alerts_topic,
        available_now=available_now,
        processing_time=processing_time,
        kafka_options=kafka_options,
    )
    queries: list[StreamingQuery] = []
    try:
        for i, stage in enumerate(stages):
            queries += [start(name, frame) for name, frame in stage().items()]
            if i == len(stages) - 1:
                queries.append(publish())  # only what this run committed to alerts/
            if available_now:
                _watch(queries, summary)
                queries = []
        _watch(queries, summary)
    except BaseException:
        for q in queries:
            if q.isActive:
                q.stop()
        raise
    log.info("stream done: %s", summary.line())
    return summary


def _start_file_query(
    name: str,
    frame: DataFrame,
    *,
    out_root: str,
    checkpoints: str,
    available_now: bool,
    processing_time: str,
) -> StreamingQuery:
    """Start the Parquet file-sink query of one output (partitioned by date, counted)."""
    counted = frame.observe(_metric(name), F.count(F.lit(1)).alias("rows"))
    writer = (
        counted.writeStream.queryName(f"velib.{name}")
        .format("parquet")
        .option("path", join_path(out_root, name))
        .option("checkpointLocation", join_path(checkpoints, name))
        .partitionBy("date")
        .outputMode("append")
    )
    return _trigger(writer, available_now, processing_time).start()


def _publish_alerts(
    spark: SparkSession,
    *,
    out_root: str,
    checkpoints: str,
    bootstrap_servers: str,
    alerts_topic: str,
    available_now: bool,
    processing_time: str,
    kafka_options: Mapping[str, str] | None,
) -> StreamingQuery:
    """Stream the committed ``alerts/`` files to the alerts topic."""
    _ensure_topic(bootstrap_servers, alerts_topic)
    source = spark.readStream.schema(alerts.output_schema()).parquet(join_path(out_root, "alerts"))
    writer = (
        alerts.alerts_json(source)
        .writeStream.queryName(f"velib.{PUBLISH}")
        .format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("topic", alerts_topic)
        .option("checkpointLocation", join_path(checkpoints, PUBLISH))
    )
    for key, value in (kafka_options or {}).items():
        if key.startswith("kafka."):
            writer = writer.option(key, value)
    return _trigger(writer, available_now, processing_time).start()


def _ensure_topic(bootstrap_servers: str, topic: str) -> None:
    """Create the alerts topic when we can; a managed cluster may forbid it (then it must exist)."""
    try:
        from pipeline import kafka_io

        kafka_io.ensure_topic(bootstrap_servers, topic, partitions=1)
    except Exception as exc:  # noqa: BLE001 - the sink reports a missing topic itself
        log.warning("could not check/create topic %s: %s", topic, exc)
