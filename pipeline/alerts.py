"""Per-station alert transitions: empty, full, normal, out of service, stale.

The transition logic is one pure function (:func:`advance`) over a station's
reports in event-time order. It is wired into Spark twice: as a stateful
streaming operator (``applyInPandasWithState`` with an event-time timeout, so
state and emitted alerts are checkpointed together and each transition is
emitted once) and as a batch ``applyInPandas`` for tests and notebooks.

Rules:

* A report's class is ``out_of_service`` (not installed, or neither renting
  nor returning), else ``empty`` (0 bikes), else ``full`` (0 docks), else
  ``normal``.
* An alert is emitted when the class differs from the station's previous
  alert state; ``at`` is the report's ``last_reported``. The first report of a
  station emits only when it is not ``normal`` (``previous`` is null).
* ``stale``: no report for longer than ``stale_after`` in event time. Between
  two reports the gap is checked directly; after the last one, the streaming
  operator arms an event-time timeout that fires once the watermark passes
  ``last_reported + stale_after``. ``at`` is that moment
  (``last_reported + stale_after``), which is deterministic on replay.
* Reports older than the station's newest known report are ignored (they
  cannot change its current state); equal timestamps are taken in arrival
  order because the real feed changes counts without moving ``last_reported``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout

from pipeline import indicators

log = logging.getLogger(__name__)

ALERTS = ("empty", "full", "normal", "out_of_service", "stale")
COLUMNS: tuple[str, ...] = (
    "station_code",
    "alert",
    "previous",
    "at",
    "bikes_available",
    "docks_available",
    "commune",
    "arrondissement",
)

_OUTPUT_SCHEMA = (
    "station_code string, alert string, previous string, at_us long, "
    "bikes_available int, docks_available int, commune string, arrondissement int"
)
_STATE_SCHEMA = (
    "alert string, last_us long, bikes int, docks int, commune string, arrondissement int"
)


@dataclass(frozen=True, slots=True)
class Report:
    """The part of a station record that alerts look at (times in epoch microseconds)."""

    alert: str
    t_us: int
    bikes: int
    docks: int
    commune: str | None
    arrondissement: int | None


@dataclass(frozen=True, slots=True)
class StationState:
    """What is remembered per station between micro-batches."""

    alert: str
    last_us: int
    bikes: int
    docks: int
    commune: str | None
    arrondissement: int | None


def output_schema() -> T.StructType:
    """Return the schema of the ``alerts/`` Parquet output (``COLUMNS`` + ``date``)."""
    return T.StructType(
        [
            T.StructField("station_code", T.StringType()),
            T.StructField("alert", T.StringType()),
            T.StructField("previous", T.StringType()),
            T.StructField("at", T.TimestampType()),
            T.StructField("bikes_available", T.IntegerType()),
            T.StructField("docks_available", T.IntegerType()),
            T.StructField("commune", T.StringType()),
            T.StructField("arrondissement", T.IntegerType()),
            T.StructField("date", T.DateType()),
        ]
    )


def alert_class() -> Column:
    """The class of one record, by priority: out_of_service, empty, full, normal."""
    return (
        F.when(indicators.is_out_of_service(), F.lit("out_of_service"))
        .when(indicators.is_empty(), F.lit("empty"))
        .when(indicators.is_full(), F.lit("full"))
        .otherwise(F.lit("normal"))
    )


def _alert(
    code: str, alert: str, previous: str | None, at_us: int, s: Report | StationState
) -> dict[str, Any]:
    return {
        "station_code": code,
        "alert": alert,
        "previous": previous,
        "at_us": at_us,
        "bikes_available": s.bikes,
        "docks_available": s.docks,
        "commune": s.commune,
        "arrondissement": s.arrondissement,
    }


def advance(
    code: str, state: StationState | None, reports: Iterable[Report], stale_after_us: int
) -> tuple[list[dict[str, Any]], StationState | None]:
    """Apply a station's reports to its state; return the alerts and the new state."""
    out: list[dict[str, Any]] = []
    for r in sorted(reports, key=lambda rep: rep.t_us):  # stable: ties keep given order
        if state is not None and r.t_us < state.last_us:
            continue
        if state is not None and state.alert != "stale" and r.t_us - state.last_us > stale_after_us:
            out.append(_alert(code, "stale", state.alert, state.last_us + stale_after_us, state))
            state = replace(state, alert="stale")
        previous = state.alert if state is not None else None
        if r.alert != previous and (previous is not None or r.alert != "normal"):
            out.append(_alert(code, r.alert, previous, r.t_us, r))
        state = StationState(r.alert, r.t_us, r.bikes, r.docks, r.commune, r.arrondissement)
    return out, state


def expire(code: str, state: StationState, stale_after_us: int) -> list[dict[str, Any]]:
    """The stale alert due when no report followed ``state`` within ``stale_after``."""
    if state.alert == "stale":
        return []
    return [_alert(code, "stale", state.alert, state.last_us + stale_after_us, state)]


_REPORT_COLUMNS = ("alert", "t_us", "o_us", "bikes", "docks", "commune", "arrondissement")
_OUTPUT_NAMES = tuple(c.split(" ")[0] for c in _OUTPUT_SCHEMA.split(", "))
_OUTPUT_DTYPES = {"at_us": "int64", "bikes_available": "int32", "docks_available": "int32"}


def _na(value: Any) -> bool:
    return value is None or value is pd.NA or value != value  # NaN != NaN


def _reports(pdfs: Iterable[pd.DataFrame]) -> list[Report]:
    """A station's rows as reports ordered by (last_reported, observed_at), ties in arrival order.

    Plain lists, not per-row pandas access: this runs once per station and
    micro-batch inside the streaming operator, where pandas overhead dominated.
    """
    cols: dict[str, list[Any]] = {c: [] for c in _REPORT_COLUMNS}
    for pdf in pdfs:
        for name, values in cols.items():
            values.extend(pdf[name].tolist())
    alert, t_us, o_us, bikes, docks, commune, arr = cols.values()
    order = sorted(range(len(t_us)), key=lambda i: (t_us[i], o_us[i]))  # stable
    return [
        Report(
            alert=str(alert[i]),
            t_us=int(t_us[i]),
            bikes=int(bikes[i]),
            docks=int(docks[i]),
            commune=None if _na(commune[i]) else str(commune[i]),
            arrondissement=None if _na(arr[i]) else int(arr[i]),
        )
        for i in order
    ]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = {name: [row[name] for row in rows] for name in _OUTPUT_NAMES}
    return pd.DataFrame(
        {
            name: (
                pd.array(values, dtype="Int32")
                if name == "arrondissement"
                else np.array(values, dtype=_OUTPUT_DTYPES.get(name, object))
            )
            for name, values in cols.items()
        }
    )


def _inputs(records: DataFrame) -> DataFrame:
    return records.select(
        "station_code",
        alert_class().alias("alert"),
        F.unix_micros("last_reported").alias("t_us"),
        F.unix_micros("observed_at").alias("o_us"),
        F.col("bikes_available").alias("bikes"),
        F.col("docks_available").alias("docks"),
        "commune",
        "arrondissement",
        "last_reported",  # kept: it carries the watermark the event-time timeout needs
    )


def _finish(df: DataFrame) -> DataFrame:
    at = F.timestamp_micros("at_us")
    return df.select(
        *(at.alias("at") if c == "at" else F.col(c) for c in COLUMNS),
        indicators.utc_date(at).alias("date"),
    )


def _duration_us(text: str) -> int:
    """Parse '2 hours', '90 minutes', '30s' style durations into microseconds."""
    return int(parse_duration(text).total_seconds() * 1_000_000)


def parse_duration(text: str) -> timedelta:
    """A Spark-style interval ('2 hours', '15 minutes', '30s') as a timedelta."""
    units = {
        "s": 1,
        "sec": 1,
        "second": 1,
        "m": 60,
        "min": 60,
        "minute": 60,
        "h": 3600,
        "hour": 3600,
        "d": 86400,
        "day": 86400,
    }
    raw = text.strip().lower()
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = raw[len(number) :].strip().rstrip("s") or "s"
    if unit not in units or not number:
        raise ValueError(f"bad duration {text!r}: use e.g. '30 minutes', '2 hours', '30s'")
    value = float(number)
    if value <= 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return timedelta(seconds=value * units[unit])


def spark_interval(text: str) -> str:
    """Normalize a duration to the interval text every Spark API accepts ('900 seconds')."""
    seconds = parse_duration(text).total_seconds()
    if seconds.is_integer():
        return f"{int(seconds)} seconds"
    return f"{int(seconds * 1000)} milliseconds"


def alerts_batch(records: DataFrame, stale_after: str, now: Any = None) -> DataFrame:
    """Alerts of a batch of records (all history in one go), the streaming rules on a batch.

    Args:
        records: station records (``record.FIELDS`` columns).
        stale_after: the stale threshold, e.g. ``"2 hours"``.
        now: optional timezone-aware datetime; stations whose last report is
            more than ``stale_after`` before it get a final stale alert.
    """
    stale_us = _duration_us(stale_after)
    now_us = None if now is None else int(now.timestamp() * 1_000_000)

    def per_station(pdf: pd.DataFrame) -> pd.DataFrame:
        code = str(pdf["station_code"].iloc[0])
        rows, state = advance(code, None, _reports([pdf]), stale_us)
        if state is not None and now_us is not None and now_us - state.last_us > stale_us:
            rows += expire(code, state, stale_us)
        return _frame(rows)

    out = _inputs(records).groupBy("station_code").applyInPandas(per_station, _OUTPUT_SCHEMA)
    return _finish(out)


def alerts_stream(records: DataFrame, stale_after: str) -> DataFrame:
    """Streaming alerts from records that already carry a watermark on ``last_reported``."""
    stale_us = _duration_us(stale_after)

    def per_station(
        key: tuple[Any, ...], pdfs: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        code = str(key[0])
        current = StationState(*state.get) if state.exists else None
        if state.hasTimedOut:
            if current is not None:
                rows = expire(code, current, stale_us)
                state.update(_state_tuple(replace(current, alert="stale")))
                if rows:
                    yield _frame(rows)
            return
        reports = _reports(pdfs)
        if not reports:
            return
        rows, current = advance(code, current, reports, stale_us)
        if current is not None:
            state.update(_state_tuple(current))
            if current.alert != "stale":
                due_ms = (current.last_us + stale_us) // 1000  # fires once watermark > due
                watermark = state.getCurrentWatermarkMs()
                state.setTimeoutTimestamp(max(due_ms, watermark, 1))
        if rows:
            yield _frame(rows)

    out = (
        _inputs(records)
        .groupBy("station_code")
        .applyInPandasWithState(
            per_station, _OUTPUT_SCHEMA, _STATE_SCHEMA, "append", GroupStateTimeout.EventTimeTimeout
        )
    )
    return _finish(out)


def _state_tuple(state: StationState) -> tuple[Any, ...]:
    return (
        state.alert,
        state.last_us,
        state.bikes,
        state.docks,
        state.commune,
        state.arrondissement,
    )


def alerts_json(df: DataFrame) -> DataFrame:
    """Alert rows as Kafka ``key``/``value`` (JSON of ``COLUMNS``, UTC 'Z' times)."""
    value = F.to_json(
        F.struct(*COLUMNS),
        {
            "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
            "timeZone": "UTC",
            "ignoreNullFields": "false",  # consumers see "previous": null, not a missing key
        },
    )
    return df.select(F.col("station_code").alias("key"), value.alias("value"))
