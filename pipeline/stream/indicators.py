"""Window indicators over the time in force: station rows, area roll-ups, the status rows.

Pure DataFrame transforms (JVM only, no Python UDF: aggregation stays in the
JVM, which matters for throughput), the same on a unit test's batch DataFrame
and inside the stream's micro-batches. The per-station time in force they
aggregate comes from :mod:`pipeline.stream.timeline`; the names and one-line
definitions of every column are in :mod:`pipeline.vocabulary`.

* Station rows: time-weighted means (each state weighs the seconds it was in
  force in the window), min/max over the states in force, shares of the known
  time, and the condition at the window's end.
* Area rows: the station rows of a window rolled up, weighted by station-time,
  so a station known for a minute weighs a minute and coverage shows in
  ``stations_known*`` instead of moving the means; what was observed shows in
  ``polls`` and ``stations_seen``.
* ``date`` is the UTC calendar date (of the window start or of
  ``last_reported``), whatever the session time zone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import record, vocabulary
from pipeline.clock import US
from pipeline.stream.parse import utc_date


def status_rows(records: DataFrame) -> DataFrame:
    """Records with their ``date`` partition column (UTC date of ``last_reported``)."""
    return records.select(*record.FIELD_NAMES, utc_date(F.col("last_reported")).alias("date"))


def status_schema() -> T.StructType:
    """Schema of the ``status/`` table: the station record plus ``date``."""
    return T.StructType([*record.spark_schema().fields, T.StructField("date", T.DateType())])


def occupancy() -> Column:
    """Occupancy = bikes / (bikes + docks), null where both are 0 (see vocabulary.DEFINITIONS)."""
    total = F.col("bikes_available") + F.col("docks_available")
    return F.when(total > 0, F.col("bikes_available") / total)


def exact(value: Column, weight_us: Column) -> Column:
    """``value`` × a time in microseconds as a whole number, so that sums of it are exact.

    A sum of doubles depends on the order of its terms, and Spark's order depends
    on how the topic was cut into batches and partitions; a sum of whole numbers
    does not. Every weighted sum here is one of these, divided once at the end,
    so a window's figures are the same bits whatever batch computed them. The
    rounding is at one value-microsecond: far below any figure's precision.
    """
    return F.round(value.cast("double") * weight_us).cast("long")


def _piece_us() -> Column:
    return F.col("end_us") - F.col("start_us")


def _weighted_mean(value: str) -> Column:
    """Time-weighted mean of a column over the pieces where it is known."""
    known_us = F.when(F.col(value).isNotNull(), _piece_us())
    return F.sum(exact(F.col(value), _piece_us())) / F.sum(known_us)


def _share(flag: str) -> Column:
    return F.sum(F.when(F.col(flag), _piece_us()).otherwise(0)) / F.sum(_piece_us())


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
        (F.sum(_piece_us()) / F.lit(float(US))).alias("seconds_known"),
        F.count(F.when(F.col("first"), 1)).cast("int").alias("n_records"),
        F.count(F.when(F.col("first") & F.col("changed"), 1)).cast("int").alias("n_changes"),
        *metrics,
        _weighted_mean("occupancy").alias("occupancy_mean"),
        (F.sum(F.when(F.col("occupancy").isNotNull(), _piece_us())) / F.lit(float(US))).alias(
            "occupancy_seconds"
        ),
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
    # station-time in whole microseconds (the station rows' seconds are whole microseconds)
    s = F.round(F.col("seconds_known") * F.lit(float(US))).cast("long")
    occupancy_us = F.round(F.col("occupancy_seconds") * F.lit(float(US))).cast("long")
    length_us = F.lit(float(window_seconds * US))

    def weighted(column: str, weight: Column = s) -> Column:
        known = F.col(column).isNotNull()
        return F.sum(exact(F.col(column), weight)) / F.sum(F.when(known, weight))

    def per_window(column: Column) -> Column:
        return F.sum(column) / length_us

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
            per_window(s).alias("stations_known_mean"),
            F.count(F.col("empty_at_end")).cast("int").alias("stations_known_at_end"),
            weighted("bikes_mean").alias("bikes_mean"),
            weighted("mechanical_mean").alias("mechanical_mean"),
            weighted("ebike_mean").alias("ebike_mean"),
            weighted("docks_mean").alias("docks_mean"),
            weighted("occupancy_mean", occupancy_us).alias("occupancy_mean"),
            (F.sum(occupancy_us) / F.lit(float(US))).alias("occupancy_seconds"),
            weighted("empty_share").alias("empty_share"),
            weighted("full_share").alias("full_share"),
            weighted("out_of_service_share").alias("out_of_service_share"),
            count("empty_at_end").alias("stations_empty"),
            count("full_at_end").alias("stations_full"),
            count("out_of_service_at_end").alias("stations_out_of_service"),
            per_window(exact(F.col("empty_share"), s)).alias("stations_empty_mean"),
            per_window(exact(F.col("full_share"), s)).alias("stations_full_mean"),
            count_seen.alias("stations_seen"),
        )
        .join(F.broadcast(polls), ["window_start"], "left")
        .withColumn("polls", F.coalesce(F.col("polls"), F.lit(0)))
        .withColumn("date", utc_date(F.col("window_start")))
        .select(*vocabulary.names(vocabulary.AREA))
    )
