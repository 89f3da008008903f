"""Parse a micro-batch: Kafka rows -> station records and polls, every failure with its reason.

One ``from_json`` per value, as a station record or, for the polls topic's
rows, as a poll; a value that is null, not a JSON object, mistyped,
incomplete or of another ``schema_version`` is rejected with its reason,
never dropped (``_rejected/``). Pure DataFrame transforms (JVM only, no Python
UDF), the same on a unit test's batch DataFrame and inside the stream; and
:func:`batch_facts`, the one small aggregate the driver reads of each batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import poll, record

CORRUPT_COLUMN = "_corrupt_record"
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in record.FIELDS if not f.nullable)
POLL_REQUIRED: tuple[str, ...] = tuple(f.name for f in poll.FIELDS if not f.nullable)

REJECTED_COLUMNS: tuple[str, ...] = (
    "value",
    "key",
    "topic",
    "partition",
    "offset",
    "timestamp",
    "reason",
    "date",
)


def _reason(
    value: Column, parsed: Column, fields: tuple[str, ...], what: str, version: int
) -> Column:
    """Why a parsed value is rejected (null when it is valid)."""
    missing = F.concat_ws(",", *(F.when(parsed[n].isNull(), F.lit(n)) for n in fields))
    return (
        F.when(value.isNull(), F.lit("null value"))
        .when(parsed.isNull(), F.lit("not a JSON object"))
        .when(
            parsed[CORRUPT_COLUMN].isNotNull(),
            F.lit(f"malformed {what}JSON or a field of the wrong type"),
        )
        .when(missing != "", F.concat(F.lit(f"missing required {what}fields: "), missing))
        .when(
            parsed["schema_version"] != F.lit(version),
            F.concat(F.lit(f"unsupported {what}schema_version "), parsed["schema_version"]),
        )
    )


def _with_corrupt(schema: T.StructType) -> T.StructType:
    return T.StructType([*schema.fields, T.StructField(CORRUPT_COLUMN, T.StringType())])


def parse_values(raw: DataFrame, polls_topic: str | None = None) -> DataFrame:
    """Parse Kafka rows (``key``, ``value`` binary, ...) into flat record columns and a ``reason``.

    ``reason`` is null for a valid record and otherwise says why the value was
    rejected, so one parse feeds both the clean and the rejected outputs and
    nothing is dropped silently. A value is rejected when it is null, not a
    JSON object, has a field of the wrong type, lacks a required field, or has
    another ``schema_version``. The raw text is kept (``value``) only for
    rejected rows: the stream caches this frame, and the bytes of a million
    valid values would double what it holds.

    Rows of ``polls_topic`` are polls (``is_poll``): parsed by the same rules into
    the ``poll`` struct (:func:`pipeline.poll.spark_schema`), their record columns
    null. One pass over the micro-batch routes both topics: reading the Kafka
    batch twice would read every station record twice.
    """
    is_poll = F.col("topic") == F.lit(polls_topic) if polls_topic else F.lit(False)
    text = F.col("value").cast("string")
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    rec = F.when(~is_poll, F.from_json(text, _with_corrupt(record.spark_schema()), options))
    one = F.when(is_poll, F.from_json(text, _with_corrupt(poll.spark_schema()), options))
    # Parse through a one-element explode: the generator's output is a new column, so
    # the optimizer cannot push the ``reason`` filters below it and inline from_json
    # into every ``rec.*`` reference (it did: 25 parses per value, 6x slower).
    both = F.struct(rec.alias("rec"), one.alias("poll"))
    parsed = raw.select("*", is_poll.alias("is_poll"), F.explode(F.array(both)).alias("_p"))
    parsed = parsed.select("*", F.col("_p.rec").alias("rec"), F.col("_p.poll").alias("poll"))
    reason = F.when(
        F.col("is_poll"),
        _reason(F.col("value"), F.col("poll"), POLL_REQUIRED, "poll ", poll.SCHEMA_VERSION),
    ).otherwise(_reason(F.col("value"), F.col("rec"), REQUIRED_FIELDS, "", record.SCHEMA_VERSION))
    return parsed.withColumn("reason", reason).select(
        F.col("key").cast("string").alias("key"),
        "topic",
        "partition",
        "offset",
        "timestamp",
        *(F.col(f"rec.{n}").alias(n) for n in record.FIELD_NAMES),
        "is_poll",
        F.col("poll").dropFields(CORRUPT_COLUMN).alias("poll"),
        "reason",
        F.when(F.col("reason").isNotNull(), text).alias("value"),
    )


def valid_records(parsed: DataFrame, with_position: bool = False) -> DataFrame:
    """The records that passed :func:`parse_values`, as the columns of ``record.FIELDS``.

    ``with_position`` keeps the Kafka ``partition`` and ``offset`` (arrival order).
    """
    position = ("partition", "offset") if with_position else ()
    valid = F.col("reason").isNull() & ~F.col("is_poll")
    return parsed.where(valid).select(*record.FIELD_NAMES, *position)


def valid_polls(parsed: DataFrame) -> DataFrame:
    """The polls that passed :func:`parse_values`: ``poll.FIELDS`` with their Kafka position."""
    valid = F.col("reason").isNull() & F.col("is_poll")
    return parsed.where(valid).select(
        *(F.col(f"poll.{n}").alias(n) for n in poll.FIELD_NAMES), "partition", "offset"
    )


def rejected_rows(parsed: DataFrame, extra: DataFrame | None = None) -> DataFrame:
    """The rows that failed :func:`parse_values`, raw value kept as text for inspection.

    Args:
        parsed: the output of :func:`parse_values`.
        extra: more rows to reject, by ``is_poll``, Kafka ``partition`` and ``offset``
            with their ``reason`` (valid records the timeline left out of order,
            repeated polls); their value is the record or poll as JSON again.
    """
    reason, value = F.col("reason"), F.col("value")
    if extra is not None:
        more = F.broadcast(extra.withColumnRenamed("reason", "_extra"))
        parsed = parsed.join(more, ["is_poll", "partition", "offset"], "left")
        reason = F.coalesce(F.col("reason"), F.col("_extra"))
        utc = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'", "timeZone": "UTC"}
        again = F.when(F.col("is_poll"), F.to_json(F.col("poll"), utc)).otherwise(
            F.to_json(F.struct(*record.FIELD_NAMES), utc)
        )
        value = F.coalesce(value, F.when(F.col("_extra").isNotNull(), again))
    return parsed.where(reason.isNotNull()).select(
        value.alias("value"),
        "key",
        "topic",
        "partition",
        "offset",
        "timestamp",
        reason.alias("reason"),
        utc_date(F.col("timestamp")).alias("date"),
    )


def rejected_schema() -> T.StructType:
    """Schema of the ``_rejected/`` table (:data:`REJECTED_COLUMNS`)."""
    types = {
        "value": T.StringType(),
        "key": T.StringType(),
        "topic": T.StringType(),
        "partition": T.IntegerType(),
        "offset": T.LongType(),
        "timestamp": T.TimestampType(),
        "reason": T.StringType(),
        "date": T.DateType(),
    }
    return T.StructType([T.StructField(n, types[n]) for n in REJECTED_COLUMNS])


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86400)).cast("int"))


@dataclass(frozen=True)
class BatchFacts:
    """What the driver reads of a parsed batch before its outputs: counts and newest times.

    Attributes:
        records: values read from the status topic (valid or not).
        polls: values read from the polls topic (valid or not).
        records_newest_us: per status partition, the newest ``observed_at`` of a valid record.
        polls_newest_us: per polls partition, the newest ``observed_at`` of a valid ok poll.
    """

    records: int = 0
    polls: int = 0
    records_newest_us: dict[int, int] = field(default_factory=dict)
    polls_newest_us: dict[int, int] = field(default_factory=dict)


def batch_facts(parsed: DataFrame) -> BatchFacts:
    """Counts and per-partition newest times of a :func:`parse_values` batch (one small job)."""
    valid = F.col("reason").isNull()
    record_at = F.when(valid & ~F.col("is_poll"), F.unix_micros("observed_at"))
    poll_at = F.when(
        valid & F.col("is_poll") & F.col("poll.ok"), F.unix_micros(F.col("poll.observed_at"))
    )
    rows = (
        parsed.groupBy("is_poll", "partition")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.max(record_at).alias("record_newest"),
            F.max(poll_at).alias("poll_newest"),
        )
        .collect()
    )
    counts = {True: 0, False: 0}
    records: dict[int, int] = {}
    polls: dict[int, int] = {}
    for row in rows:
        counts[bool(row["is_poll"])] += int(row["n"])
        if row["record_newest"] is not None:
            records[int(row["partition"])] = int(row["record_newest"])
        if row["poll_newest"] is not None:
            polls[int(row["partition"])] = int(row["poll_newest"])
    return BatchFacts(counts[False], counts[True], records, polls)
