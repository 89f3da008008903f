"""The per-station state pass: records -> intervals in force -> windows, alerts, next state.

Pure Spark DataFrame transforms (JVM only, no Python UDF), called by the stream
once per micro-batch and directly by the unit tests on small batch frames.

A record is in force from its ``observed_at`` until the station's next record,
or for ``stale_after`` at most; then the station is unknown until it reports
again (its ``stale`` alert waits for a poll that does not renew it:
:func:`alert_rows`). Everything here works on epoch microseconds (``o_us``)
and is cut at two instants the caller chooses:

* ``lo``: everything before it was emitted by earlier batches (None at first);
* ``hi``: every record (and poll) observed before it is known to have arrived,
  so the windows ending by ``hi`` and the alerts dated before it are final.

Output before ``hi`` is therefore a function of the records and polls alone,
whatever the batch boundaries were: the same tables come out of one batch or a
hundred. The state kept between batches is, per station, the last record
observed before ``hi`` (its condition and staleness clock) plus any record at
or after it, and what the poll log needs (:mod:`pipeline.stream.observation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import WindowSpec

from pipeline import record, vocabulary
from pipeline.clock import FAR_US, US
from pipeline.stream import indicators, observation
from pipeline.stream.parse import utc_date

KAFKA_COLUMNS: tuple[str, ...] = ("partition", "offset")
STATE_COLUMNS: tuple[str, ...] = (*record.FIELD_NAMES, *KAFKA_COLUMNS)
PLACE_COLUMNS: tuple[str, ...] = ("name", "commune", "arrondissement")


def state_schema() -> T.StructType:
    """Schema of the kept records: the station record plus its Kafka position."""
    return T.StructType(
        [
            *record.spark_schema().fields,
            T.StructField("partition", T.IntegerType()),
            T.StructField("offset", T.LongType()),
        ]
    )


def condition() -> Column:
    """A record's condition, by priority: out_of_service, empty, full, normal."""
    c = F.col
    return (
        F.when(
            vocabulary.is_out_of_service(c("is_installed"), c("is_renting"), c("is_returning")),
            F.lit("out_of_service"),
        )
        .when(vocabulary.is_empty(c("bikes_available")), F.lit("empty"))
        .when(vocabulary.is_full(c("docks_available")), F.lit("full"))
        .otherwise(F.lit("normal"))
    )


def _same(columns: tuple[str, ...], window: WindowSpec) -> Column:
    """True when every column equals its value on the previous row (nulls equal nulls).

    One lag of a struct, not one lag per column: each window expression costs
    the window operator a pass, and struct equality already treats two null
    fields as equal.
    """
    packed = F.struct(*columns)
    return F.lag(packed).over(window) == packed


def arrange(kept: DataFrame, batch: DataFrame, lo_us: int | None) -> DataFrame:
    """Union the kept records with a batch and give each out-of-order batch row its reason.

    Rows are taken in arrival order (Kafka partition, offset; one station is
    always in one partition). A batch row is out of order, with ``reason``
    set, when it was observed before the complete part ``lo``, before a
    record of its station that arrived earlier, or at the same instant as one
    (a re-send): its time is already accounted for, so it goes to
    ``_rejected/`` with that reason instead of the timeline.
    """
    rows = (
        kept.select(*STATE_COLUMNS)
        .withColumn("fresh", F.lit(False))
        .unionByName(batch.select(*STATE_COLUMNS).withColumn("fresh", F.lit(True)))
        .withColumn("o_us", F.unix_micros("observed_at"))
    )
    arrival = Window.partitionBy("station_code").orderBy("partition", "offset")
    rows = rows.withColumn(
        "_seen", F.max("o_us").over(arrival.rowsBetween(Window.unboundedPreceding, -1))
    )
    seen, o = F.col("_seen"), F.col("o_us")
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    reason = (
        F.when(~F.col("fresh"), F.lit(None))
        .when(o < lo, F.lit("late: observed before the part of the output already complete"))
        .when(o < seen, F.lit("out of order: observed before an earlier record of the station"))
        .when(o == seen, F.lit("repeated: the station already has a record observed then"))
    )
    return rows.withColumn("reason", reason.cast("string")).drop("_seen")


def out_of_order(arranged: DataFrame) -> DataFrame:
    """The batch rows left out of the timeline, by ``is_poll``, ``partition``, ``offset``."""
    return arranged.where(F.col("reason").isNotNull()).select(
        F.lit(False).alias("is_poll"), "partition", "offset", "reason"
    )


def timeline(arranged: DataFrame, stale_after_us: int) -> DataFrame:
    """The accepted records of each station in time order, with what each needs to know.

    Adds ``next_o_us`` / ``prev_o_us`` (neighbours' observed times),
    ``known_end_us`` (when the record stops being in force), ``condition`` and
    ``prev_condition``, ``changed`` (state differs from the previous record)
    ``same_report`` (report time and state both unchanged: a heartbeat that
    brought nothing new, which ``status/`` leaves out) and ``place_version``.
    """
    accepted = arranged.where(F.col("reason").isNull())
    # Accepted rows are observed strictly later than every earlier arrival, so arrival
    # order is time order: the same window as ``arrange`` (one sort, not two).
    order = Window.partitionBy("station_code").orderBy("partition", "offset")
    o = F.col("o_us")
    stale_at = o + F.lit(stale_after_us)
    same_report = _same(("last_reported", *record.STATE_FIELDS), order)
    moved = ~F.coalesce(_same(PLACE_COLUMNS, order), F.lit(False))
    so_far = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return (
        accepted.withColumn("condition", condition())
        # numbers the station's (name, commune, arrondissement) versions, so window
        # aggregates carry an int and look the strings up afterwards (a hash aggregate)
        .withColumn("moved", moved)
        .withColumn("place_version", F.sum(moved.cast("int")).over(so_far))
        .withColumn("next_o_us", F.lead("o_us").over(order))
        .withColumn("prev_o_us", F.lag("o_us").over(order))
        .withColumn("prev_condition", F.lag("condition").over(order))
        .withColumn("changed", ~F.coalesce(_same(record.STATE_FIELDS, order), F.lit(False)))
        .withColumn("same_report", F.coalesce(same_report, F.lit(False)))
        .withColumn("known_end_us", F.least(F.coalesce(F.col("next_o_us"), stale_at), stale_at))
    )


def pieces(line: DataFrame, lo_us: int | None, hi_us: int, window_us: int) -> DataFrame:
    """Each record's time in force within [lo, hi), split at window boundaries.

    One row per (record, window) with ``start_us``/``end_us`` of the piece,
    ``seconds``, the state's values and flags, and ``first`` when the piece
    begins at the record's own observed time (so the record counts in that window).
    """
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    a = F.greatest(F.col("o_us"), lo)
    b = F.least(F.col("known_end_us"), F.lit(hi_us))
    w = F.lit(window_us)
    spans = line.withColumn("_a", a).withColumn("_b", b).where(F.col("_a") < F.col("_b"))
    k = F.explode(F.sequence(F.floor(F.col("_a") / w), F.floor((F.col("_b") - 1) / w)))
    c = F.col
    return (
        spans.withColumn("k", k)
        .withColumn("window_start_us", c("k") * w)
        .withColumn("start_us", F.greatest(c("_a"), c("window_start_us")))
        .withColumn("end_us", F.least(c("_b"), c("window_start_us") + w))
        .select(
            "station_code",
            "window_start_us",
            "start_us",
            "end_us",
            ((c("end_us") - c("start_us")) / F.lit(float(US))).alias("seconds"),
            (c("start_us") == c("o_us")).alias("first"),
            "changed",
            "place_version",
            "bikes_available",
            "mechanical_available",
            "ebike_available",
            "docks_available",
            indicators.occupancy().alias("occupancy"),
            vocabulary.is_empty(c("bikes_available")).alias("empty"),
            vocabulary.is_full(c("docks_available")).alias("full"),
            vocabulary.is_out_of_service(
                c("is_installed"), c("is_renting"), c("is_returning")
            ).alias("out_of_service"),
        )
    )


def places(line: DataFrame) -> DataFrame:
    """Each station's (name, commune, arrondissement) by ``place_version`` (small)."""
    # a version starts where the place moved: one row per (station, version), no dedup
    return line.where("moved").select("station_code", "place_version", *PLACE_COLUMNS)


def alert_rows(
    line: DataFrame, lo_us: int | None, hi_us: int, stale_after_us: int, polls: DataFrame
) -> DataFrame:
    """Condition changes dated in [lo, hi): one row each (vocabulary.ALERT columns).

    All but ``seen_before_at``, which the poll log adds
    (:func:`pipeline.stream.observation.seen_before`).

    A record alerts when its condition differs from the previous record's (a
    station's first record only when it is not ``normal``). A station goes
    ``stale`` when polls keep coming and do not renew it: at the first ok poll
    at or after its last record + ``stale_after`` that brought no record of it.
    A gap with no poll at all is the network unobserved, not one alert per
    station: a station that reports again at the first poll after it gets no
    alert (or its condition change). ``back`` is the first record after a
    ``stale`` that was emitted.

    Only polls before ``hi`` decide (all of them have arrived, and
    :func:`pipeline.stream.observation.kept` keeps the last one before ``lo``),
    so the alerts do not depend on the cut into batches.

    Args:
        line: :func:`timeline`.
        lo_us: start of the part to emit (None: from the beginning).
        hi_us: the frontier.
        stale_after_us: the stale threshold.
        polls: the accepted polls (:func:`pipeline.stream.observation.arrange`).
    """
    lo = F.lit(lo_us if lo_us is not None else -FAR_US)
    hi = F.lit(hi_us)
    after = F.lit(stale_after_us)
    intervals = observation.poll_intervals(polls)
    o, cond, prev = F.col("o_us"), F.col("condition"), F.col("prev_condition")
    current = line.where((o >= lo) & (o < hi))
    gap = F.col("prev_o_us").isNotNull() & (o - F.col("prev_o_us") > after)
    # the few records after a gap look up the first poll past their predecessor's threshold
    rows = observation.first_poll(
        current.where(gap), F.col("prev_o_us") + after, intervals, "_stale_us"
    ).unionByName(
        current.where(~F.coalesce(gap, F.lit(False))).withColumn(
            "_stale_us", F.lit(None).cast("long")
        )
    )
    back = F.coalesce(F.col("_stale_us") < o, F.lit(False))  # that poll came before it returned
    alert = (
        F.when(back, F.lit(vocabulary.BACK))
        .when(prev.isNull() & (cond != F.lit("normal")), cond)
        .when(prev.isNotNull() & (cond != prev), cond)
    )
    changes = rows.select(
        "*",
        alert.alias("alert"),
        F.when(back, F.lit(vocabulary.STALE)).otherwise(prev).alias("previous"),
        cond.alias("after"),
        o.alias("at_us"),
    )
    stale_at = o + after
    nxt = F.col("next_o_us")
    lapsed = line.where((nxt.isNull() | (nxt > stale_at)) & (stale_at < hi))
    stale_us = F.col("_stale_us")
    stale = (
        observation.first_poll(lapsed, stale_at, intervals, "_stale_us")
        .where((stale_us >= lo) & (stale_us < hi) & (nxt.isNull() | (nxt > stale_us)))
        .select(
            "*",
            F.lit(vocabulary.STALE).alias("alert"),
            cond.alias("previous"),
            F.lit(vocabulary.STALE).alias("after"),
            stale_us.alias("at_us"),
        )
    )
    at = F.timestamp_micros("at_us")
    columns = {"condition": F.col("after"), "at": at, "date": utc_date(at)}
    names = [n for n in vocabulary.names(vocabulary.ALERT) if n != "seen_before_at"]
    return (
        changes.where(F.col("alert").isNotNull())
        .unionByName(stale)
        .select(*(columns.get(n, F.col(n)).alias(n) for n in names))
    )


def kept_records(line: DataFrame, hi_us: int | None) -> DataFrame:
    """What the next batch needs: per station the last record before ``hi``, and any after."""
    if hi_us is None:
        return line.select(*STATE_COLUMNS)
    before = F.max(F.when(F.col("o_us") < F.lit(hi_us), F.col("o_us"))).over(
        Window.partitionBy("station_code")
    )
    return (
        line.withColumn("_last_before", before)
        .where((F.col("o_us") >= F.lit(hi_us)) | (F.col("o_us") == F.col("_last_before")))
        .select(*STATE_COLUMNS)
    )


def state_schemas() -> dict[str, T.StructType]:
    """The state kept between batches, by frame name: records, polls, last sightings."""
    return {
        "records": state_schema(),
        "polls": observation.kept_schema(),
        "seen": observation.seen_schema(),
    }


@dataclass(frozen=True)
class Windows:
    """What a batch writes when its frontier passed window ends: rows of the closed windows.

    Attributes:
        stations: ``indicators_station`` rows of the windows in [lo, hi).
        alerts: the alerts dated in [lo, hi), with ``seen_before_at``.
        polls: ok polls per window in [lo, hi) (``window_start``, ``polls``), for the
            area roll-up (:func:`pipeline.stream.indicators.area_rows`).
    """

    stations: DataFrame
    alerts: DataFrame
    polls: DataFrame


@dataclass(frozen=True)
class Step:
    """One batch through the state pass: its rows for every table and what the next batch needs.

    Attributes:
        status: the batch's accepted records that bring something new (``status/``).
        polls: the batch's accepted polls (``polls/``).
        out_of_order: records and polls left out, by ``is_poll``, partition, offset, reason.
        windows: the closed windows' rows; None when the frontier passed no window end.
        kept: the state for the next batch, frames of :func:`state_schemas` by name.
    """

    status: DataFrame
    polls: DataFrame
    out_of_order: DataFrame
    windows: Windows | None
    kept: Mapping[str, DataFrame]


def advance(
    state: Mapping[str, DataFrame],
    batch: DataFrame,
    polls: DataFrame | None = None,
    *,
    lo_us: int | None,
    hi_us: int | None,
    window_us: int,
    stale_after_us: int,
    cache: Callable[[DataFrame], DataFrame] = lambda frame: frame,
) -> Step:
    """Apply one batch of valid records and polls (with partition, offset) to the kept state.

    Pure transforms: nothing runs until the caller collects the frames.

    Args:
        state: the previous step's ``kept`` (frames of :func:`state_schemas`; empty at first).
        batch: the batch's valid records, ``STATE_COLUMNS``.
        polls: the batch's valid polls (:func:`pipeline.stream.observation.batch_schema`).
        lo_us: everything before it was written by earlier batches (None at first).
        hi_us: every record and poll observed before it has arrived (the
            :class:`~pipeline.stream.frontier.Frontier` after this batch; None: none yet).
        window_us: window length.
        stale_after_us: the stale threshold.
        cache: persists a frame used more than once (the stream passes Spark's).
    """
    schemas = state_schemas()
    spark = batch.sparkSession
    kept = {n: state[n] if n in state else spark.createDataFrame([], s) for n, s in schemas.items()}
    if polls is None:
        polls = spark.createDataFrame([], observation.batch_schema())
    lo, hi = lo_us, hi_us
    arranged = cache(arrange(kept["records"], batch, lo))
    line = cache(timeline(arranged, stale_after_us))
    sorted_polls = cache(observation.arrange(kept["polls"], polls, lo))
    windows = None
    seen = kept["seen"]
    if hi is not None and (lo is None or hi > lo):
        sighted = cache(observation.sightings(sorted_polls, lo, hi))
        windows = Windows(
            stations=cache(  # written, and rolled up into the areas
                indicators.station_rows(
                    pieces(line, lo, hi, window_us),
                    places(line),
                    window_us,
                    observation.polls_seen(sighted, window_us),
                )
            ),
            alerts=observation.seen_before(
                alert_rows(line, lo, hi, stale_after_us, sorted_polls), seen, sighted
            ).select(*vocabulary.names(vocabulary.ALERT)),
            polls=observation.window_polls(sorted_polls, lo, hi, window_us),
        )
        seen = observation.last_seen(seen, sighted)
    return Step(
        status=indicators.status_rows(line.where(F.col("fresh") & ~F.col("same_report"))),
        polls=observation.poll_rows(polls, sorted_polls, utc_date(F.col("observed_at"))),
        out_of_order=out_of_order(arranged).unionByName(observation.rejected(sorted_polls)),
        windows=windows,
        kept={
            "records": kept_records(line, hi),
            "polls": observation.kept(sorted_polls, hi),
            "seen": seen,
        },
    )
