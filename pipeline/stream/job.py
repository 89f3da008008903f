"""The stream job: Kafka -> Delta tables of records, indicators over time, alerts (Spark).

One Structured Streaming query reads the status and polls topics (native
Kafka source) and hands each micro-batch to
:class:`pipeline.stream.microbatch.BatchStep`, which parses it once, routing
each row by its topic, and runs the per-station state pass of
:mod:`pipeline.stream.timeline` in the JVM:

========================  ======================================================
``status/``               every valid record (``record.FIELDS`` + ``date``),
                          without repeats of a station's previous
                          (last_reported, state)
``polls/``                every poll (``poll.FIELDS`` + ``date``), one per
                          snapshot ingest read
``indicators_station/``   per station and window, over the time in force,
                          with the polls that saw the station
``indicators_area/``      per window and network / commune / arrondissement
``alerts/``               condition changes, stale and back; also published
                          as JSON (key = station code) to the alerts topic
``_rejected/``            values that failed parsing, records out of order and
                          repeated polls, with the reason
========================  ======================================================

Columns and their meaning: :mod:`pipeline.vocabulary` and :mod:`pipeline.poll`.

Completeness. A window or an alert is written once every record and poll
observed before its end has arrived: the least, over the partitions of both
topics, of the newest ``observed_at`` read (:func:`pipeline.stream.timeline.frontier`;
the polls topic counts once a poll was read). Partitions may advance unevenly
(small ``maxOffsetsPerTrigger``, a lagging broker): that only delays output,
it never drops a record as late. The newest windows appear on a later run. A
record observed before that frontier when it arrives (two producers on one
topic) is counted as ``late`` and goes to ``_rejected/`` with its reason.

Guarantees. The tables are Delta tables, written exactly once: each batch's
commit to a table carries the query id and the batch id as Delta's app
transaction (:mod:`pipeline.stream.tables`), so a replayed batch never writes a
row twice; the alerts topic is at-least-once (a crash between send and the
state commit re-sends that batch). What a batch writes does not depend on how
the topic was cut into batches (docs/architecture.md). Delete the outputs and
the checkpoints together, never one without the other. The tables are written
by the driver through delta-rs: local folders or the URIs it opens (``s3://``,
``az://``, ``gs://``); see docs/cluster.md. Offsets Kafka deleted before the
stream read them stop the query (``failOnDataLoss``): a silent hole is worse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from pipeline import lifecycle, poll
from pipeline.kafka.security import KafkaAuthError, KafkaSecurity
from pipeline.settings import project
from pipeline.settings.stream import StreamSettings
from pipeline.settings.tables import CompactSettings
from pipeline.stream import alerts
from pipeline.stream.arrow import arrow_schema
from pipeline.stream.microbatch import OUTPUTS, STATE, BatchStep, Durations, StreamSummary
from pipeline.stream.state import STATE as STATE_TABLE
from pipeline.stream.state import StateStore
from pipeline.stream.tables import DeltaTables, join_path

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
    """Topics (comma-separated) as one streaming DataFrame (native Kafka source)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        # offsets Kafka deleted before they were read stop the query, loudly: a record
        # the stream never saw would be a silent hole in every table
        .option("failOnDataLoss", "true")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    for key, value in (kafka_options or {}).items():
        reader = reader.option(key, value)
    return reader.load()


def run_stream(
    spark: SparkSession,
    settings: StreamSettings,
    stop: threading.Event | None = None,
    kafka_options: Mapping[str, str] | None = None,
) -> StreamSummary:
    """Run the stream job as ``settings`` say, until the topic is drained or stopped.

    Args:
        spark: the session (:func:`pipeline.stream.session.get_spark` locally; the
            platform's on a cluster). Its time zone is set to UTC.
        settings: the resolved settings (``StreamSettings.build(...)``): topics,
            output and checkpoint roots, window, stale threshold, trigger.
            ``KAFKA_*`` security settings become Spark source/sink options.
        stop: live runs end when it is set (and on SIGINT/SIGTERM in the main thread);
            a batch cut short is replayed, whole, by the next run.
        kafka_options: more Spark Kafka source options (``kafka.*`` client settings,
            ``fetchOffset.*``), over the ``KAFKA_*`` security ones: e.g. the client
            timeouts that bound how long the source waits on a dead leader.

    Returns:
        The run's counts (records read, rows per output, alerts published).
    """
    from pipeline.kafka import clients

    durations = Durations.parse(settings.window, settings.stale_after)
    source_options = KafkaSecurity.from_env().spark_options()  # masks its secrets
    source_options.update(kafka_options or {})
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out_root = settings.out
    checkpoints = settings.checkpoints or join_path(out_root, "_checkpoints")
    kept = CompactSettings.build()  # the tables' log and removed-file retention
    tables = DeltaTables(
        out_root, {n: arrow_schema(s) for n, s in OUTPUTS.items()}, kept.retain_hours
    )
    tables.ensure()
    state = StateStore(join_path(checkpoints, STATE_TABLE), STATE, kept.state_retain_hours)
    state.ensure()
    _ensure_topic(settings.bootstrap_servers, settings.alerts_topic)
    _ensure_topic(settings.bootstrap_servers, settings.polls_topic, poll.PARTITIONS)
    producer = clients.producer(settings.bootstrap_servers)

    def publish(rows: pa.Table) -> int:
        sent = 0
        for key, value in alerts.messages(rows):
            producer.send(settings.alerts_topic, key=key, value=value)
            sent += 1
        producer.flush()  # before the state commit: a replay re-sends, never skips
        return sent

    summary = StreamSummary()
    step = BatchStep(tables, state, durations, publish, summary, settings.polls_topic)
    raw = read_kafka(
        spark,
        bootstrap_servers=settings.bootstrap_servers,
        topic=f"{settings.topic},{settings.polls_topic}",
        starting_offsets=settings.starting_offsets,
        max_offsets_per_trigger=settings.max_offsets_per_trigger,
        kafka_options=source_options,
    )
    writer = (
        raw.writeStream.queryName(QUERY)
        .foreachBatch(step)
        .option("checkpointLocation", join_path(checkpoints, "stream"))
    )
    if settings.live:
        writer = writer.trigger(processingTime=project.spark_interval(settings.processing_time))
    else:
        writer = writer.trigger(availableNow=True)
    log.info("stream %s -> %s (checkpoints %s)", settings.topic, out_root, checkpoints)
    query = writer.start()
    try:
        if not settings.live:
            query.awaitTermination()
        else:
            with lifecycle.stop_on_signals(stop) as stopping:
                while not stopping.is_set() and not query.awaitTermination(1):
                    pass
            log.info("stream stopping (signal or stop): the running batch finishes first")
            if not step.idle.wait(STOP_WAIT_S):
                log.warning(
                    "batch still running after %.0f s: stopped; a restart redoes it", STOP_WAIT_S
                )
    finally:
        if query.isActive:
            query.stop()
        producer.close()
    log.info("stream done: %s", summary.line())
    return summary


def _ensure_topic(bootstrap_servers: str, topic: str, partitions: int = 1) -> None:
    """Create a topic when we can; a managed cluster may forbid it (then it must exist)."""
    from pipeline.kafka import clients

    try:
        clients.ensure_topic(bootstrap_servers, topic, partitions=partitions)
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
    from pipeline.kafka import clients
    from pipeline.stream.session import get_spark

    # one line now, not a Spark stack trace: the login, and options Spark cannot take
    KafkaSecurity.from_env().spark_options()
    clients.check_login(settings.bootstrap_servers)
    return run_stream(spark or get_spark("velib-stream", settings.master), settings, stop)
