"""Pure DataFrame transforms of the stream stage: parse and clean, then window indicators.

Every function here takes and returns a Spark DataFrame and works the same on
a batch DataFrame (unit tests) and inside the stream's micro-batches. No
Python UDF is used: parsing and aggregation stay in the JVM, which matters
for throughput. The per-station time in force that the indicators aggregate
comes from :mod:`pipeline.stream.timeline`; the names and one-line definitions of
every column are in :mod:`pipeline.vocabulary`.

* Parsing: one ``from_json`` per value, as a station record or, for the
  polls topic's rows, as a poll; a value that is null, not a JSON object,
  mistyped, incomplete or of another ``schema_version`` is rejected with its
  reason, never dropped.
* Station rows: time-weighted means (each state weighs the seconds it was in
  force in the window), min/max over the states in force, shares of the known
  time, and the condition at the window's end.
* Area rows: the station rows of a window rolled up, weighted by station-time,
  so a station known for a minute weighs a minute and coverage shows in
  ``stations_known*`` instead of moving the means; what was observed shows in
  ``polls`` and ``stations_seen``.
* ``date`` is the UTC calendar date (of the window start, of ``last_reported``
  or of the Kafka timestamp for rejected rows), whatever the session time zone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import poll, record, vocabulary

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


def status_rows(records: DataFrame) -> DataFrame:
    """Records with their ``date`` partition column (UTC date of ``last_reported``)."""
    return records.select(*record.FIELD_NAMES, utc_date(F.col("last_reported")).alias("date"))


def status_schema() -> T.StructType:
    """Schema of the ``status/`` table: the station record plus ``date``."""
    return T.StructType([*record.spark_schema().fields, T.StructField("date", T.DateType())])


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86400)).cast("int"))


def occupancy() -> Column:
    """Occupancy = bikes / (bikes + docks), null where both are 0 (see vocabulary.DEFINITIONS)."""
    total = F.col("bikes_available") + F.col("docks_available")
    return F.when(total > 0, F.col("bikes_available") / total)


def _weighted_mean(value: str) -> Column:
    """Time-weighted mean of a column over the pieces where it is known."""
    v, s = F.col(value).cast("double"), F.col("seconds")
    return F.sum(v * s) / F.sum(F.when(F.col(value).isNotNull(), s))


def _share(flag: str) -> Column:
    return F.sum(F.when(F.col(flag), F.col("seconds")).otherwise(0.0)) / F.sum("seconds")


def station_rows(
    parts: DataFrame, places: DataFrame, window_us: int, seen: DataFrame | None = None
) -> DataFrame:
    """The ``indicators_station`` rows of the pieces (vocabulary.STATION columns).

    Args:
        parts: :func:`pipeline.stream.timeline.pieces`.
        places: :func:`pipeline.stream.timeline.places`, the names looked up by version.
        window_us: the window length.
        seen: ``polls_seen`` by ``station_code`` and ``window_start_us``
            (:func:`pipeline.stream.observation.polls_seen`); absent means 0.

    Every aggregate buffer is fixed-width (the condition at the end is a bit
    set, names come from ``places``), so Spark runs a hash aggregate over the
    station-partitioned pieces: no sort of millions of pieces.
    """
    metrics = []
    for short, col in (
        ("bikes", "bikes_available"),
        ("mechanical", "mechanical_available"),
        ("ebike", "ebike_available"),
        ("docks", "docks_available"),
    ):
        metrics += [
            _weighted_mean(col).alias(f"{short}_mean"),
            F.min(col).alias(f"{short}_min"),
            F.max(col).alias(f"{short}_max"),
        ]
    bits = (
        F.col("empty").cast("int")
        + F.col("full").cast("int") * 2
        + F.col("out_of_service").cast("int") * 4
    )
    grouped = parts.groupBy("station_code", "window_start_us").agg(
        F.max("place_version").alias("place_version"),
        F.sum("seconds").alias("seconds_known"),
        F.count(F.when(F.col("first"), 1)).cast("int").alias("n_records"),
        F.count(F.when(F.col("first") & F.col("changed"), 1)).cast("int").alias("n_changes"),
        *metrics,
        _weighted_mean("occupancy").alias("occupancy_mean"),
        F.sum(F.when(F.col("occupancy").isNotNull(), F.col("seconds"))).alias("occupancy_seconds"),
        _share("empty").alias("empty_share"),
        _share("full").alias("full_share"),
        _share("out_of_service").alias("out_of_service_share"),
        F.max("end_us").alias("_last_end"),
        F.max_by(bits, F.col("end_us")).alias("_end"),
    )
    end_us = F.col("window_start_us") + F.lit(window_us)
    known_at_end = F.col("_last_end") == end_us

    def at_end(bit: int) -> Column:
        return F.when(known_at_end, (F.col("_end").bitwiseAND(F.lit(bit))) != 0)

    derived = {
        "window_start": F.timestamp_micros("window_start_us"),
        "window_end": F.timestamp_micros(end_us),
        "occupancy_seconds": F.coalesce(F.col("occupancy_seconds"), F.lit(0.0)),
        "empty_at_end": at_end(1),
        "full_at_end": at_end(2),
        "out_of_service_at_end": at_end(4),
        "date": utc_date(F.timestamp_micros("window_start_us")),
        "polls_seen": F.coalesce(F.col("polls_seen"), F.lit(0)),
    }
    named = grouped.join(F.broadcast(places), ["station_code", "place_version"], "left")
    if seen is None:
        named = named.withColumn("polls_seen", F.lit(None).cast("int"))
    else:
        named = named.join(seen, ["station_code", "window_start_us"], "left")
    return named.select(
        *(derived.get(n, F.col(n)).alias(n) for n in vocabulary.names(vocabulary.STATION))
    )


def area_rows(
    stations: DataFrame, window_seconds: float, window_polls: DataFrame | None = None
) -> DataFrame:
    """Roll ``indicators_station`` rows up to the network, communes and arrondissements.

    Means are over the area's station-time (each station row weighted by its
    known seconds), so a station known for a minute weighs a minute; counts at
    the end use the ``*_at_end`` flags; ``*_mean`` counts divide station-time
    by the window length. ``polls`` comes from ``window_polls`` (``window_start``,
    ``polls``: :func:`pipeline.stream.observation.window_polls`; absent means 0),
    the same for every area of a window: each poll reads the whole network.
    """
    levels = F.array(
        F.struct(F.lit("network").alias("level"), F.lit(vocabulary.NETWORK_AREA).alias("area")),
        F.struct(F.lit("commune").alias("level"), F.col("commune").alias("area")),
        F.struct(
            F.lit("arrondissement").alias("level"),
            F.col("arrondissement").cast("string").alias("area"),
        ),
    )
    s = F.col("seconds_known")
    length = F.lit(float(window_seconds))

    def weighted(column: str, weight: Column = s) -> Column:
        known = F.col(column).isNotNull()
        return F.sum(F.col(column) * weight) / F.sum(F.when(known, weight))

    def count(flag: str) -> Column:
        return F.count(F.when(F.col(flag), 1)).cast("int")

    spark = stations.sparkSession
    polls = window_polls
    if polls is None:
        polls = spark.createDataFrame([], "window_start timestamp, polls int")
    count_seen = F.count(F.when(F.col("polls_seen") > 0, 1)).cast("int")
    exploded = stations.withColumn("_a", F.explode(levels)).where(F.col("_a.area").isNotNull())
    return (
        exploded.groupBy(
            "window_start",
            "window_end",
            F.col("_a.level").alias("area_level"),
            F.col("_a.area").alias("area"),
        )
        .agg(
            F.count(F.lit(1)).cast("int").alias("stations_known"),
            (F.sum(s) / length).alias("stations_known_mean"),
            F.count(F.col("empty_at_end")).cast("int").alias("stations_known_at_end"),
            weighted("bikes_mean").alias("bikes_mean"),
            weighted("mechanical_mean").alias("mechanical_mean"),
            weighted("ebike_mean").alias("ebike_mean"),
            weighted("docks_mean").alias("docks_mean"),
            weighted("occupancy_mean", F.col("occupancy_seconds")).alias("occupancy_mean"),
            F.sum("occupancy_seconds").alias("occupancy_seconds"),
            weighted("empty_share").alias("empty_share"),
            weighted("full_share").alias("full_share"),
            weighted("out_of_service_share").alias("out_of_service_share"),
            count("empty_at_end").alias("stations_empty"),
            count("full_at_end").alias("stations_full"),
            count("out_of_service_at_end").alias("stations_out_of_service"),
            (F.sum(F.col("empty_share") * s) / length).alias("stations_empty_mean"),
            (F.sum(F.col("full_share") * s) / length).alias("stations_full_mean"),
            count_seen.alias("stations_seen"),
        )
        .join(F.broadcast(polls), ["window_start"], "left")
        .withColumn("polls", F.coalesce(F.col("polls"), F.lit(0)))
        .withColumn("date", utc_date(F.col("window_start")))
        .select(*vocabulary.names(vocabulary.AREA))
    )
