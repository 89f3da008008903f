"""The stream job: Kafka -> clean Parquet, indicators over time, alerts (Spark).

One Structured Streaming query reads the status topic (native Kafka source)
and hands each micro-batch to :class:`pipeline.microbatch.BatchStep`, which
parses it once and runs the per-station state pass of :mod:`pipeline.timeline`
in the JVM:

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
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession

from pipeline import alerts, config, lifecycle
from pipeline.batchstore import BatchStore, join_path
from pipeline.microbatch import OUTPUTS, BatchStep, Durations, StreamSummary
from pipeline.settings import StreamSettings

log = logging.getLogger(__name__)

QUERY = "velib.stream"
STOP_WAIT_S = 300.0  # a clean stop lets the running batch finish, this long at most


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
            log.info("stream stopping (signal or stop): the running batch finishes first")
            if not step.idle.wait(STOP_WAIT_S):
                log.warning(
                    "batch still running after %.0f s: stopped; a restart redoes it", STOP_WAIT_S
                )
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
