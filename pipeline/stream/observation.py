"""The poll log in the stream: when each station was *seen*, not only when it changed.

Pure Spark DataFrame transforms (JVM only), called once per micro-batch by
:func:`pipeline.stream.timeline.advance` and directly by the unit tests. A
poll *sees* the stations it ``listed`` (only an ``ok`` poll lists any); a
*sighting* is one (station, poll time). From the sightings:

* ``polls_seen`` of a station window: its sightings in [window_start, window_end);
* ``polls`` of an area window: the ok polls observed in the window, and
  ``stations_seen``: the area's stations with ``polls_seen > 0``;
* ``seen_before_at`` of an alert: the station's last sighting strictly before ``at``;
* when a station goes ``stale``: at the first ok poll at or after its last
  record + ``stale_after`` that did not renew it (:func:`first_poll`).

Same cut as the timeline: everything before ``lo`` was written by earlier
batches, and every poll observed before ``hi`` has arrived (the stream's
frontier includes the polls topic), so counts in windows ending by ``hi`` are
final when written. The state kept between batches: the accepted polls
observed at or after ``hi`` (with what they listed), the keys of the last
:data:`MEMORY_US` of polls (to recognise a repeat) and the last ok poll
before ``hi``, and each station's last sighting before ``hi``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import poll
from pipeline.clock import FAR_US, US

MEMORY_US = 7 * 24 * 3600 * US  # a repeat arriving later than this after its poll is not seen
REPEATED = "repeated poll"
LATE = "late poll: observed before the part of the output already complete"


def kept_schema() -> T.StructType:
    """The ``polls`` state frame: accepted polls by source and time, what an ok one listed."""
    return T.StructType(
        [
            T.StructField("source", T.StringType()),
            T.StructField("o_us", T.LongType()),
            T.StructField("ok", T.BooleanType()),
            T.StructField("listed", T.ArrayType(T.StringType())),
        ]
    )


def seen_schema() -> T.StructType:
    """The ``seen`` state frame: each station's last sighting before the complete part."""
    return T.StructType(
        [T.StructField("station_code", T.StringType()), T.StructField("seen_us", T.LongType())]
    )


def batch_schema() -> T.StructType:
    """A batch of polls: the poll fields with their Kafka position (arrival order)."""
    return T.StructType(
        [
            *poll.spark_schema().fields,
            T.StructField("partition", T.IntegerType()),
            T.StructField("offset", T.LongType()),
        ]
    )


def arrange(kept: DataFrame, batch: DataFrame, lo_us: int | None) -> DataFrame:
    """Union the kept polls with a batch's and give each rejected batch poll its reason.

    A poll is repeated when an earlier one (kept, or earlier in the batch by
    Kafka position) has the same source and ``observed_at``: the same snapshot
    read again, never counted twice. An ok poll observed before ``lo`` is late:
    the windows it belongs to are written. Failed and stale polls list nothing,
    so they are never late, whatever their time.
    """
    rows = kept.select(
        "source",
        "o_us",
        "ok",
        "listed",
        F.lit(False).alias("fresh"),
        F.lit(None).cast("int").alias("partition"),
        F.lit(None).cast("long").alias("offset"),
    ).unionByName(
        batch.select(
            "source",
            F.unix_micros("observed_at").alias("o_us"),
            "ok",
            "listed",
            F.lit(True).alias("fresh"),
            "partition",
            "offset",
        )
    )
    first = Window.partitionBy("source", "o_us").orderBy("fresh", "partition", "offset")
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    reason = (
        F.when(~F.col("fresh"), F.lit(None))
        .when(F.row_number().over(first) > 1, F.lit(REPEATED))
        .when(F.col("ok") & (F.col("o_us") < lo), F.lit(LATE))
    )
    return rows.withColumn("reason", reason.cast("string"))


def rejected(arranged: DataFrame) -> DataFrame:
    """The batch polls left out: ``is_poll``, ``partition``, ``offset``, ``reason``."""
    return arranged.where(F.col("reason").isNotNull()).select(
        F.lit(True).alias("is_poll"), "partition", "offset", "reason"
    )


def poll_rows(batch: DataFrame, arranged: DataFrame, utc_date: Column) -> DataFrame:
    """The ``polls/`` rows of the batch: its accepted polls, the poll fields and ``date``."""
    accepted = arranged.where(F.col("fresh") & F.col("reason").isNull()).select(
        "partition", "offset"
    )
    return batch.join(accepted, ["partition", "offset"]).select(
        *poll.FIELD_NAMES, utc_date.alias("date")
    )


def newest(batch: DataFrame) -> dict[int, int]:
    """The newest ok poll time per partition of a batch (the polls side of the frontier)."""
    rows = (
        batch.where("ok")
        .groupBy("partition")
        .agg(F.max(F.unix_micros("observed_at")).alias("newest"))
        .collect()
    )
    return {int(r["partition"]): int(r["newest"]) for r in rows}


def sightings(arranged: DataFrame, lo_us: int | None, hi_us: int) -> DataFrame:
    """(``station_code``, ``o_us``) of every accepted ok poll observed in [lo, hi)."""
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    o = F.col("o_us")
    return arranged.where(
        F.col("reason").isNull() & F.col("ok") & (o >= lo) & (o < F.lit(hi_us))
    ).select(F.explode("listed").alias("station_code"), "o_us")


def polls_seen(seen: DataFrame, window_us: int) -> DataFrame:
    """Sightings per station and window: ``station_code``, ``window_start_us``, ``polls_seen``."""
    w = F.lit(window_us)
    return seen.groupBy(
        "station_code", (F.floor(F.col("o_us") / w) * w).alias("window_start_us")
    ).agg(F.count(F.lit(1)).cast("int").alias("polls_seen"))


def window_polls(arranged: DataFrame, lo_us: int | None, hi_us: int, window_us: int) -> DataFrame:
    """Accepted ok polls per window in [lo, hi): ``window_start``, ``polls``."""
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    o, w = F.col("o_us"), F.lit(window_us)
    return (
        arranged.where(F.col("reason").isNull() & F.col("ok") & (o >= lo) & (o < F.lit(hi_us)))
        .groupBy(F.timestamp_micros(F.floor(o / w) * w).alias("window_start"))
        .agg(F.count(F.lit(1)).cast("int").alias("polls"))
    )


def poll_intervals(arranged: DataFrame) -> DataFrame:
    """Each accepted ok poll's time and the previous one's: ``p_us``, ``prev_us`` (null: first).

    Every ok poll lists stations (a snapshot without any is not ok). Polls of
    several sources at one instant are one instant. The intervals (prev_us,
    p_us] tile the time polled so far: an instant falls in exactly one, whose
    ``p_us`` is the first poll at or after it (:func:`first_poll`). Before the
    frontier the list is final (every poll observed before it has arrived and
    the earlier ones are kept, :func:`kept`), so a lookup there never changes.
    """
    times = arranged.where(F.col("reason").isNull() & F.col("ok")).select("ok", "o_us").distinct()
    order = Window.partitionBy("ok").orderBy("o_us")  # one partition: the polls are few
    return times.select(F.col("o_us").alias("p_us"), F.lag("o_us").over(order).alias("prev_us"))


def first_poll(frame: DataFrame, at: Column, intervals: DataFrame, name: str) -> DataFrame:
    """``frame`` with column ``name``: the first ok poll observed at or after ``at``.

    Null when no such poll is known yet. A range lookup in the few polls
    (broadcast), so call it on the few rows that need it.

    Args:
        frame: the rows to look up.
        at: the instant (epoch microseconds) of each row.
        intervals: :func:`poll_intervals`.
        name: the new column's name.
    """
    t = frame.withColumn("_at", at)
    p, prev = F.col("p_us"), F.col("prev_us")
    hit = (prev.isNull() | (prev < F.col("_at"))) & (F.col("_at") <= p)
    return (
        t.join(F.broadcast(intervals), hit, "left")
        .withColumnRenamed("p_us", name)
        .drop("_at", "prev_us")
    )


def seen_before(alerts: DataFrame, last_seen: DataFrame, seen: DataFrame) -> DataFrame:
    """Each alert with ``seen_before_at``: the station's last sighting strictly before ``at``.

    Args:
        alerts: alert rows (``station_code``, ``at``, ...).
        last_seen: the ``seen`` state (each station's last sighting before ``lo``).
        seen: the sightings in [lo, hi) (:func:`sightings`).

    One sort per station, not a join: alerts and sightings in time order, an
    alert before a sighting at the same instant (so that one does not count).
    """
    marks = last_seen.select("station_code", F.col("seen_us").alias("_t")).unionByName(
        seen.select("station_code", F.col("o_us").alias("_t"))
    )
    rows = alerts.withColumn("_t", F.unix_micros("at")).withColumn("_alert", F.lit(True))
    both = rows.unionByName(marks.withColumn("_alert", F.lit(False)), allowMissingColumns=True)
    order = Window.partitionBy("station_code").orderBy("_t", F.col("_alert").desc())
    before = F.max(F.when(~F.col("_alert"), F.col("_t"))).over(
        order.rowsBetween(Window.unboundedPreceding, -1)
    )
    return (
        both.withColumn("seen_before_at", F.timestamp_micros(before))
        .where("_alert")
        .drop("_t", "_alert")
    )


def kept(arranged: DataFrame, hi_us: int | None) -> DataFrame:
    """The ``polls`` state for the next batch: pending polls in full, recent keys for repeats.

    Also the last ok poll before ``hi`` however old, so that the next batch
    knows which of its polls is the first after a long gap (:func:`poll_intervals`).
    """
    accepted = arranged.where(F.col("reason").isNull())
    if hi_us is None:
        return accepted.select(*kept_schema().fieldNames())
    o, hi = F.col("o_us"), F.lit(hi_us)
    last_ok = F.max(F.when(o < hi, o)).over(Window.partitionBy("ok"))
    return (
        accepted.withColumn("_last_ok", last_ok)
        .where((o >= F.lit(hi_us - MEMORY_US)) | (F.col("ok") & (o == F.col("_last_ok"))))
        .select(
            "source",
            "o_us",
            "ok",
            F.when(o >= hi, F.col("listed")).alias("listed"),  # windows before hi are written
        )
    )


def last_seen(previous: DataFrame, seen: DataFrame) -> DataFrame:
    """The ``seen`` state for the next batch: each station's last sighting before ``hi``."""
    return (
        previous.unionByName(seen.select("station_code", F.col("o_us").alias("seen_us")))
        .groupBy("station_code")
        .agg(F.max("seen_us").alias("seen_us"))
    )
