"""Pure DataFrame transforms of the stream stage: parse, clean, windowed indicators.

Every function here takes and returns a Spark DataFrame and works the same on
a batch DataFrame (unit tests) and a streaming one (``pipeline.stream``); none
of them reads, writes, or sets a watermark. No Python UDF is used: parsing and
aggregation stay in the JVM, which matters for throughput.

Definitions used by the indicators (the notebooks rely on them):

* A station is *empty* when ``bikes_available == 0``, *full* when
  ``docks_available == 0``, *out of service* when it is not installed or
  neither rents nor returns bikes (``not is_installed or (not is_renting and
  not is_returning)``; the real feed has both patterns). A capacity-0 station
  with 0 bikes and 0 docks is therefore both empty and full.
* ``occupancy = bikes / (bikes + docks)``, null where both are 0 (bikes and
  docks never add up to capacity in the real feed, so capacity is not used).
* Shares (``empty_share``, ``full_share``, ``out_of_service_share``) are
  **shares of reports**: the fraction of the station's records whose
  ``last_reported`` falls in the window that were empty / full / out of
  service. They are not time-weighted. Ingest emits a station only when its
  state changes (plus hourly heartbeats), so a window may hold no report for a
  station: such a (station, window) pair has **no row**; indicators cover only
  windows with at least one report, and ``n_reports`` says how many.
* Area rows (per commune, and per arrondissement for Paris) aggregate the
  station rows of the same window: means are means over stations of the
  station means, shares are means over stations of the station shares, and
  ``stations_empty`` / ``_full`` / ``_out_of_service`` count stations with at
  least one such report in the window. Stations with a null commune or
  arrondissement do not contribute to that level.
* ``date`` is the UTC calendar date (of the window start, of
  ``last_reported``, or of the Kafka timestamp for rejected rows), computed
  without the session time zone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import record

CORRUPT_COLUMN = "_corrupt_record"
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in record.FIELDS if not f.nullable)

STATION_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_end",
    "station_code",
    "name",
    "commune",
    "arrondissement",
    "n_reports",
    *(
        f"{m}_{s}"
        for m in ("bikes", "mechanical", "ebike", "docks")
        for s in ("mean", "min", "max")
    ),
    "occupancy_mean",
    "empty_share",
    "full_share",
    "out_of_service_share",
    "date",
)

AREA_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_end",
    "area_level",
    "area",
    "n_stations",
    "bikes_mean",
    "mechanical_mean",
    "ebike_mean",
    "docks_mean",
    "occupancy_mean",
    "empty_share",
    "full_share",
    "out_of_service_share",
    "stations_empty",
    "stations_full",
    "stations_out_of_service",
    "date",
)

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

_METRICS = {
    "bikes": "bikes_available",
    "mechanical": "mechanical_available",
    "ebike": "ebike_available",
    "docks": "docks_available",
}


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86400)).cast("int"))


def parse_values(raw: DataFrame) -> DataFrame:
    """Parse Kafka rows (``key``, ``value`` binary, ...) into ``rec`` plus a ``reason``.

    ``reason`` is null for a valid record and otherwise says why the value was
    rejected, so one parse feeds both the clean and the rejected outputs and
    nothing is dropped silently. A value is rejected when it is null, not a
    JSON object, has a field of the wrong type, lacks a required field, or has
    another ``schema_version``.
    """
    schema = T.StructType(
        [*record.spark_schema().fields, T.StructField(CORRUPT_COLUMN, T.StringType())]
    )
    text = F.col("value").cast("string")
    rec = F.from_json(
        text, schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    )
    # Parse through a one-element explode: the generator's output is a new column, so
    # the optimizer cannot push the ``reason`` filters below it and inline from_json
    # into every ``rec.*`` reference (it did: 25 parses per value, 6x slower).
    parsed = raw.select("*", F.explode(F.array(rec)).alias("rec"))
    missing = F.concat_ws(
        ",", *(F.when(F.col(f"rec.{n}").isNull(), F.lit(n)) for n in REQUIRED_FIELDS)
    )
    reason = (
        F.when(F.col("value").isNull(), F.lit("null value"))
        .when(F.col("rec").isNull(), F.lit("not a JSON object"))
        .when(
            F.col(f"rec.{CORRUPT_COLUMN}").isNotNull(),
            F.lit("malformed JSON or a field of the wrong type"),
        )
        .when(missing != "", F.concat(F.lit("missing required fields: "), missing))
        .when(
            F.col("rec.schema_version") != F.lit(record.SCHEMA_VERSION),
            F.concat(F.lit("unsupported schema_version "), F.col("rec.schema_version")),
        )
    )
    return parsed.withColumn("reason", reason)


def valid_records(parsed: DataFrame) -> DataFrame:
    """The records that passed :func:`parse_values`, as the columns of ``record.FIELDS``."""
    return parsed.where(F.col("reason").isNull()).select(
        *(F.col(f"rec.{n}").alias(n) for n in record.FIELD_NAMES)
    )


def rejected_rows(parsed: DataFrame) -> DataFrame:
    """The rows that failed :func:`parse_values`, raw value kept as text for inspection."""
    return parsed.where(F.col("reason").isNotNull()).select(
        F.col("value").cast("string").alias("value"),
        F.col("key").cast("string").alias("key"),
        "topic",
        "partition",
        "offset",
        "timestamp",
        "reason",
        utc_date(F.col("timestamp")).alias("date"),
    )


def status_rows(records: DataFrame) -> DataFrame:
    """Records with their ``date`` partition column (UTC date of ``last_reported``)."""
    return records.select(*record.FIELD_NAMES, utc_date(F.col("last_reported")).alias("date"))


def status_schema() -> T.StructType:
    """Schema of the ``status/`` table: the station record plus ``date``."""
    return T.StructType([*record.spark_schema().fields, T.StructField("date", T.DateType())])


def station_schema(spark: SparkSession) -> T.StructType:
    """Schema of the ``indicators_station/`` table, derived from the transform itself."""
    empty = spark.createDataFrame([], record.spark_schema())
    return station_indicators(empty, "1 hour").schema


def dedup_key() -> list[str]:
    """What makes two status records the same: station, report time and state."""
    return ["station_code", "last_reported", *record.STATE_FIELDS]


def is_empty() -> Column:
    """No bike to take."""
    return F.col("bikes_available") == 0


def is_full() -> Column:
    """No dock to return a bike to."""
    return F.col("docks_available") == 0


def is_out_of_service() -> Column:
    """Not installed, or neither renting nor returning."""
    return ~F.col("is_installed") | (~F.col("is_renting") & ~F.col("is_returning"))


def occupancy() -> Column:
    """Occupancy = bikes / (bikes + docks); null where both are 0."""
    total = F.col("bikes_available") + F.col("docks_available")
    return F.when(total > 0, F.col("bikes_available") / total)


def _share(condition: Column) -> Column:
    return F.avg(condition.cast("double"))


def station_windows(records: DataFrame, window: str) -> DataFrame:
    """Per station and tumbling window aggregates, keeping Spark's ``window`` struct.

    The struct column carries the event-time watermark through to a chained
    aggregation (:func:`area_windows`) in a streaming query; use
    :func:`station_indicators` for the published layout.
    """
    metrics = [
        agg(F.col(col)).alias(f"{short}_{suffix}")
        for short, col in _METRICS.items()
        for suffix, agg in (("mean", F.avg), ("min", F.min), ("max", F.max))
    ]
    return records.groupBy(
        F.window("last_reported", window).alias("window"), F.col("station_code")
    ).agg(
        F.max_by("name", "last_reported").alias("name"),
        F.max_by("commune", "last_reported").alias("commune"),
        F.max_by("arrondissement", "last_reported").alias("arrondissement"),
        F.count(F.lit(1)).alias("n_reports"),
        *metrics,
        F.avg(occupancy()).alias("occupancy_mean"),
        _share(is_empty()).alias("empty_share"),
        _share(is_full()).alias("full_share"),
        _share(is_out_of_service()).alias("out_of_service_share"),
    )


def _finish(df: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    return (
        df.withColumn("window_start", F.col("window.start"))
        .withColumn("window_end", F.col("window.end"))
        .withColumn("date", utc_date(F.col("window.start")))
        .select(*columns)
    )


def station_indicators(records: DataFrame, window: str) -> DataFrame:
    """The ``indicators_station`` layout: one row per station and window with reports."""
    return _finish(station_windows(records, window), STATION_COLUMNS)


def area_windows(stations: DataFrame, keys: tuple[str, ...] = ("window",)) -> DataFrame:
    """Roll station-window rows up to communes and Paris arrondissements.

    Args:
        stations: :func:`station_windows` rows (``keys`` = ``("window",)``) or
            published ``indicators_station`` rows (``("window_start", "window_end")``).
        keys: the window columns to group by; in a streaming query one of them
            must carry the watermark.
    """
    areas = F.array(
        F.struct(F.lit("commune").alias("area_level"), F.col("commune").alias("area")),
        F.struct(
            F.lit("arrondissement").alias("area_level"),
            F.col("arrondissement").cast("string").alias("area"),
        ),
    )
    exploded = stations.withColumn("_area", F.explode(areas)).where(F.col("_area.area").isNotNull())
    return exploded.groupBy(
        *(F.col(k) for k in keys),
        F.col("_area.area_level").alias("area_level"),
        F.col("_area.area").alias("area"),
    ).agg(
        F.count(F.lit(1)).alias("n_stations"),
        F.avg("bikes_mean").alias("bikes_mean"),
        F.avg("mechanical_mean").alias("mechanical_mean"),
        F.avg("ebike_mean").alias("ebike_mean"),
        F.avg("docks_mean").alias("docks_mean"),
        F.avg("occupancy_mean").alias("occupancy_mean"),
        F.avg("empty_share").alias("empty_share"),
        F.avg("full_share").alias("full_share"),
        F.avg("out_of_service_share").alias("out_of_service_share"),
        F.count(F.when(F.col("empty_share") > 0, 1)).alias("stations_empty"),
        F.count(F.when(F.col("full_share") > 0, 1)).alias("stations_full"),
        F.count(F.when(F.col("out_of_service_share") > 0, 1)).alias("stations_out_of_service"),
    )


def area_from_station_rows(station_rows: DataFrame) -> DataFrame:
    """The ``indicators_area`` layout from ``indicators_station`` rows (same values).

    Area rows are defined over the station rows of a window, so rolling up the
    published station table gives what :func:`area_indicators` computes from
    records, without aggregating the records a second time. In a streaming
    query, set the watermark on ``window_end`` (a window's station rows are
    all written in one micro-batch, so a zero delay loses none).
    """
    out = area_windows(station_rows, ("window_start", "window_end"))
    return out.withColumn("date", utc_date(F.col("window_start"))).select(*AREA_COLUMNS)


def area_indicators(records: DataFrame, window: str) -> DataFrame:
    """The ``indicators_area`` layout: one row per area and window with reports."""
    return _finish(area_windows(station_windows(records, window)), AREA_COLUMNS)
