"""The indicator vocabulary: every condition and every output column, defined once.

The stream's Spark transforms select their columns from these tuples, the
Parquet schemas are derived from them, ``compare`` and the notebooks use the
same names, and the table of outputs in docs/outputs.md is rendered from the docs
here (a test keeps it in sync). Renaming an indicator is one edit.

Time model (why the columns read as they do). The status topic is a change
log: a station's record is *in force* from its ``observed_at`` until the
station's next record, or until ``stale_after`` without any record (heartbeats
count), after which the station is *unknown* until it reports again. Window
statistics are over that time in force, never over the records that happen to
fall in a window. This module imports nothing else from the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["str", "int", "long", "double", "bool", "timestamp", "date"]

# --- conditions -------------------------------------------------------------------

# Priority order: a station that is out of service and has 0 bikes is out of service.
CONDITIONS: tuple[str, ...] = ("out_of_service", "empty", "full", "normal")
STALE = "stale"
BACK = "back"
ALERTS: tuple[str, ...] = (*CONDITIONS, STALE, BACK)

DEFINITIONS: dict[str, str] = {
    "empty": "no bike to take: bikes_available = 0",
    "full": "no dock to return a bike to: docks_available = 0",
    "out_of_service": "not installed, or neither renting nor returning bikes",
    "normal": "none of the above",
    "occupancy": "bikes / (bikes + docks); undefined when both are 0 (capacity is not used: "
    "bikes + docks differ from it in most real records)",
    "stale": "polls keep coming and none renews the station: an ok poll at or after its "
    "last record + stale_after brought no record of it (heartbeats count); alerted at the "
    "first such poll, never when no poll came (the whole network is then unobserved); its "
    "time is unknown from observed_at + stale_after until its next record either way",
    "observed": "a station is observed in a window when a poll observed in it listed the "
    "station (polls_seen > 0); otherwise its values there are carried forward",
}


def is_empty(bikes: Any) -> Any:
    """Empty; works on a pandas Series and on a Spark Column alike."""
    return bikes == 0


def is_full(docks: Any) -> Any:
    """Full; works on a pandas Series and on a Spark Column alike."""
    return docks == 0


def is_out_of_service(installed: Any, renting: Any, returning: Any) -> Any:
    """Out of service (both patterns occur in the real feed); pandas or Spark booleans."""
    return ~installed | (~renting & ~returning)


# --- output columns ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an output table."""

    name: str
    kind: Kind
    doc: str


def _metric_columns(prefix: str, what: str) -> tuple[Column, ...]:
    return (
        Column(f"{prefix}_mean", "double", f"time-weighted mean of {what} over the known time"),
        Column(f"{prefix}_min", "int", f"least {what} among the states in force"),
        Column(f"{prefix}_max", "int", f"most {what} among the states in force"),
    )


_WINDOW = (
    Column("window_start", "timestamp", "start of the tumbling window (UTC, inclusive)"),
    Column("window_end", "timestamp", "end of the window (UTC, exclusive)"),
)

STATION: tuple[Column, ...] = (
    *_WINDOW,
    Column("station_code", "str", "the station's code (Kafka key)"),
    Column("name", "str", "station name, as last reported in the window"),
    Column("commune", "str", "commune of the station"),
    Column("arrondissement", "int", "Paris arrondissement 1-20, else null"),
    Column("seconds_known", "double", "seconds of the window with a state in force"),
    Column("n_records", "int", "records observed in the window (heartbeats included)"),
    Column("n_changes", "int", "records in the window whose state differs from the one before"),
    Column(
        "polls_seen",
        "int",
        "polls observed in the window that listed the station; 0: every value of the row is "
        "carried forward, not observed",
    ),
    *_metric_columns("bikes", "bikes available"),
    *_metric_columns("mechanical", "mechanical bikes"),
    *_metric_columns("ebike", "e-bikes"),
    *_metric_columns("docks", "free docks"),
    Column("occupancy_mean", "double", "time-weighted mean occupancy over occupancy_seconds"),
    Column("occupancy_seconds", "double", "seconds of known time with bikes + docks > 0"),
    Column("empty_share", "double", "share of the known time spent empty"),
    Column("full_share", "double", "share of the known time spent full"),
    Column("out_of_service_share", "double", "share of the known time out of service"),
    Column("empty_at_end", "bool", "empty at the window's end; null when unknown then"),
    Column("full_at_end", "bool", "full at the window's end; null when unknown then"),
    Column("out_of_service_at_end", "bool", "out of service at the end; null when unknown"),
    Column("date", "date", "UTC date of window_start (partition column)"),
)

AREA_LEVELS: tuple[str, ...] = ("network", "commune", "arrondissement")
NETWORK_AREA = "all"

AREA: tuple[Column, ...] = (
    *_WINDOW,
    Column("area_level", "str", "network | commune | arrondissement"),
    Column("area", "str", "'all' for the network, the commune name, or '1'..'20'"),
    Column("stations_known", "int", "stations with a state in force during part of the window"),
    Column("stations_known_mean", "double", "time-weighted mean number of stations known"),
    Column("stations_known_at_end", "int", "stations with a state in force at the window's end"),
    Column(
        "polls",
        "int",
        "ok polls observed in the window (each reads the whole network); 0: nothing was "
        "observed, every value is carried forward",
    ),
    Column("stations_seen", "int", "the area's stations listed by at least one of those polls"),
    Column("bikes_mean", "double", "bikes per known station, time-weighted (station-time mean)"),
    Column("mechanical_mean", "double", "mechanical bikes per known station, time-weighted"),
    Column("ebike_mean", "double", "e-bikes per known station, time-weighted"),
    Column("docks_mean", "double", "free docks per known station, time-weighted"),
    Column("occupancy_mean", "double", "occupancy over the area's station-time where defined"),
    Column("occupancy_seconds", "double", "station-seconds with bikes + docks > 0 (its weight)"),
    Column("empty_share", "double", "share of the area's known station-time spent empty"),
    Column("full_share", "double", "share of the area's known station-time spent full"),
    Column("out_of_service_share", "double", "share of known station-time out of service"),
    Column("stations_empty", "int", "stations empty at the window's end"),
    Column("stations_full", "int", "stations full at the window's end"),
    Column("stations_out_of_service", "int", "stations out of service at the window's end"),
    Column("stations_empty_mean", "double", "time-weighted mean number of empty stations"),
    Column("stations_full_mean", "double", "time-weighted mean number of full stations"),
    Column("date", "date", "UTC date of window_start (partition column)"),
)

ALERT: tuple[Column, ...] = (
    Column("station_code", "str", "the station's code (the alerts topic's key)"),
    Column("alert", "str", "empty | full | normal | out_of_service | stale | back"),
    Column("previous", "str", "the condition before (null for a station's first record)"),
    Column("condition", "str", "the condition in force after the alert ('stale' while unknown)"),
    Column(
        "at",
        "timestamp",
        "when it happened: observed_at; for stale, the first ok poll at or after last "
        "record + stale_after that did not renew the station",
    ),
    Column(
        "seen_before_at",
        "timestamp",
        "the station's last poll strictly before at (seen still as before): the change "
        "happened in (seen_before_at, at]; null when unknown",
    ),
    Column("bikes_available", "int", "bikes of the state in force (the last known for stale)"),
    Column("docks_available", "int", "free docks of the state in force"),
    Column("commune", "str", "commune of the station"),
    Column("arrondissement", "int", "Paris arrondissement 1-20, else null"),
    Column("date", "date", "UTC date of at (partition column)"),
)

# The forecast's interface (velib forecast predict, and forecasts/ of a live run): stable.
FORECAST: tuple[Column, ...] = (
    Column("station_code", "str", "the station's code"),
    Column("issued_at", "timestamp", "issue time (UTC): only what was observed before it is used"),
    Column("horizon_minutes", "int", "15, 30 or 60"),
    Column("target_at", "timestamp", "issued_at + horizon_minutes (UTC)"),
    Column("last_observed_at", "timestamp", "the station's last poll before issued_at (UTC)"),
    Column("bikes_pred", "double", "bikes available at target_at (point forecast)"),
    Column("bikes_p10", "double", "10 % quantile of bikes: with bikes_p90 an 80 % interval"),
    Column("bikes_p90", "double", "90 % quantile of bikes"),
    Column("docks_pred", "double", "free docks at target_at"),
    Column("p_empty", "double", "probability that the station is empty at target_at"),
    Column("p_full", "double", "probability that the station is full at target_at"),
    Column(
        "date", "date", "UTC date of issued_at (partition of forecasts/; not in predict's file)"
    ),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "indicators_station": STATION,
    "indicators_area": AREA,
    "alerts": ALERT,
    "forecasts": FORECAST,
}

GRAIN: dict[str, str] = {
    "indicators_station": "one row per station and window in which it had a state in force",
    "indicators_area": "one row per window and area (network, each commune, each Paris "
    "arrondissement) with at least one known station",
    "alerts": "one row per change of a station's condition, at the time it took effect",
    "forecasts": "one row per station seen in the 12 h before issued_at, issue time and horizon "
    "(`velib forecast predict`'s file; live: one file per issue time under "
    "`forecasts/date=YYYY-MM-DD/`; see docs/forecast.md)",
}


def names(columns: Iterable[Column]) -> tuple[str, ...]:
    """The column names, in table order."""
    return tuple(c.name for c in columns)


def spark_schema(columns: Sequence[Column]) -> Any:
    """A Spark StructType of the columns (pyspark imported only when asked)."""
    from pyspark.sql import types as T

    spark_types = {
        "str": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "date": T.DateType(),
    }
    return T.StructType([T.StructField(c.name, spark_types[c.kind]) for c in columns])


def markdown(table: str) -> str:
    """The README section of one table: its grain, then one line per column."""
    lines = [f"**`{table}/`** — {GRAIN[table]}.", "", "| column | meaning |", "|---|---|"]
    lines += [f"| `{c.name}` | {c.doc} |" for c in TABLES[table]]
    return "\n".join(lines)
