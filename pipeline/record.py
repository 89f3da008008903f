"""The station record: the one definition every form of the data derives from.

A Kafka message value (JSON), a CSV row and the Spark schema are all rendered
from :data:`FIELDS`, so adding or renaming a field happens in one place.
This module imports nothing else from the project.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA_VERSION = 1

Kind = Literal["str", "int", "long", "float", "bool", "timestamp"]


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the station record."""

    name: str
    kind: Kind
    nullable: bool
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("schema_version", "int", False, "version of this record layout"),
    Field("station_code", "str", False, "the code people use ('16107'); the Kafka key"),
    Field("station_id", "long", True, "GBFS station_id; exceeds int32"),
    Field("name", "str", True, "station name"),
    Field("lat", "float", True, "latitude, WGS84"),
    Field("lon", "float", True, "longitude, WGS84"),
    Field("capacity", "int", True, "number of docks; 0 happens for real"),
    Field("commune", "str", True, "commune the station stands in"),
    Field("arrondissement", "int", True, "Paris arrondissement 1-20, else null"),
    Field("bikes_available", "int", False, "bikes available, all types"),
    Field("mechanical_available", "int", True, "mechanical bikes available"),
    Field("ebike_available", "int", True, "electric bikes available"),
    Field("docks_available", "int", False, "free docks"),
    Field("is_installed", "bool", False, "station in service"),
    Field("is_renting", "bool", False, "bikes can be taken"),
    Field("is_returning", "bool", False, "bikes can be returned"),
    Field("last_reported", "timestamp", False, "the station's own last report, UTC"),
    Field("observed_at", "timestamp", False, "when the snapshot was taken, UTC"),
    Field("source", "str", False, "gbfs | opendata | replay:<format>"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)

# The fields whose change is a change of the station's state. A new timestamp
# alone is not a change: the feed re-reports unchanged stations.
STATE_FIELDS: tuple[str, ...] = (
    "capacity",
    "bikes_available",
    "mechanical_available",
    "ebike_available",
    "docks_available",
    "is_installed",
    "is_renting",
    "is_returning",
)

State = tuple[Any, ...]

# A station whose GBFS id no reference table maps to a code keeps this prefix before
# its id: recognisable everywhere, so research never ranks it as a known station.
PLACEHOLDER_PREFIX = "id:"


def placeholder_code(station_id: int | str) -> str:
    """The code of a station known only by its GBFS id."""
    return f"{PLACEHOLDER_PREFIX}{station_id}"


def is_placeholder(code: str) -> bool:
    """True for a code made up from an unmapped GBFS id, not a real station code."""
    return code.startswith(PLACEHOLDER_PREFIX)


@dataclass(frozen=True, slots=True)
class StationRecord:
    """One station at one moment, normalized from any source."""

    station_code: str
    station_id: int | None
    name: str | None
    lat: float | None
    lon: float | None
    capacity: int | None
    commune: str | None
    arrondissement: int | None
    bikes_available: int
    mechanical_available: int | None
    ebike_available: int | None
    docks_available: int
    is_installed: bool
    is_renting: bool
    is_returning: bool
    last_reported: datetime
    observed_at: datetime
    source: str
    schema_version: int = SCHEMA_VERSION

    # What change detection compares: counts, flags and capacity (one C-level call:
    # it runs for every record of every snapshot).
    state = property(operator.attrgetter(*STATE_FIELDS), doc="The station's state tuple.")

    def to_dict(self) -> dict[str, Any]:
        """Plain values in FIELDS order (datetimes stay datetimes)."""
        return {name: getattr(self, name) for name in FIELD_NAMES}

    def replace(self, **changes: Any) -> StationRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


# --- timestamps ----------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a 'Z' suffix; seconds unless there are microseconds.

    Cached: a snapshot's records share observed_at and many last_reported values,
    and this is the hottest call when rendering JSON and CSV (capture throughput).
    """
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    value = value.astimezone(UTC)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries an offset or 'Z' into UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no offset")
    return value.astimezone(UTC)


# --- JSON form -----------------------------------------------------------


# Hot path (every emitted record): values in one call, timestamps by position, one encoder.
_VALUES = operator.attrgetter(*FIELD_NAMES)
_TIMESTAMPS = tuple(i for i, f in enumerate(FIELDS) if f.kind == "timestamp")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_json_dict(record: StationRecord) -> dict[str, Any]:
    """The JSON-ready dict of a record (timestamps as ISO strings)."""
    values = list(_VALUES(record))
    for i in _TIMESTAMPS:
        if values[i] is not None:
            values[i] = format_timestamp(values[i])
    return dict(zip(FIELD_NAMES, values, strict=True))


def to_json(record: StationRecord) -> bytes:
    """The Kafka message value: compact UTF-8 JSON."""
    return _ENCODER.encode(to_json_dict(record)).encode()


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{name}={value!r} is not an integer")
    return int(value)


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not a number")
    return float(value)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{name}={value!r} is not a boolean")


def _as_timestamp(name: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return parse_timestamp(str(value))


# One converter per field kind: (field name for the message, JSON/CSV value) -> Python value.
_CONVERT: dict[Kind, Callable[[str, Any], Any]] = {
    "str": lambda _name, value: str(value),
    "int": _as_int,
    "long": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "timestamp": _as_timestamp,
}


def _coerce(field: Field, value: Any) -> Any:
    """Check and convert one JSON/CSV value to the field's Python type."""
    if value is None or value == "":
        if field.nullable:
            return None
        raise ValueError(f"{field.name} is required")
    return _CONVERT[field.kind](field.name, value)


def from_json_dict(data: Mapping[str, Any]) -> StationRecord:
    """Build a record from its JSON dict; raises ValueError on any bad field."""
    missing = [f.name for f in FIELDS if f.name not in data and not f.nullable]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    return StationRecord(**{f.name: _coerce(f, data.get(f.name)) for f in FIELDS})


def from_json(value: bytes | str) -> StationRecord:
    """Parse a Kafka message value back into a record."""
    return from_json_dict(json.loads(value))


# --- CSV form ------------------------------------------------------------

CSV_HEADER: tuple[str, ...] = FIELD_NAMES


def to_csv_row(record: StationRecord) -> list[str]:
    """CSV cells: ints as digits, booleans as true/false, ISO UTC timestamps, '' for null."""
    cells: list[str] = []
    for f in FIELDS:
        value = getattr(record, f.name)
        if value is None:
            cells.append("")
        elif f.kind == "bool":
            cells.append("true" if value else "false")
        elif f.kind == "timestamp":
            cells.append(format_timestamp(value))
        elif f.kind == "float":
            cells.append(repr(float(value)))
        else:
            cells.append(str(value))
    return cells


_CELL_SPEC = tuple((f.name, f.kind, f.nullable) for f in FIELDS)


@functools.lru_cache(maxsize=16384)
def _timestamp_cell(text: str) -> str:
    return format_timestamp(parse_timestamp(text))


def csv_row_from_json_dict(data: Mapping[str, Any]) -> list[str] | None:
    """The cells of :func:`to_csv_row` straight from a well-typed JSON dict, or None.

    Capture renders every message: for what ingest writes (every value already of
    its field's JSON type) this skips building a StationRecord. None means some
    value needs :func:`from_json_dict`'s full checks (and its error message).
    """
    cells: list[str] = []
    for name, kind, nullable in _CELL_SPEC:
        value = data.get(name)
        vtype = type(value)
        if value is None:
            if not nullable:
                return None
            cells.append("")
        elif kind == "str" and vtype is str and value:
            cells.append(value)
        elif kind in ("int", "long") and vtype is int:
            cells.append(str(value))
        elif kind == "float" and vtype is float:
            cells.append(repr(value))
        elif kind == "bool" and vtype is bool:
            cells.append("true" if value else "false")
        elif kind == "timestamp" and vtype is str:
            try:
                cells.append(_timestamp_cell(value))
            except ValueError:
                return None
        else:
            return None
    return cells


def from_csv_row(cells: Sequence[str]) -> StationRecord:
    """Parse the cells of :func:`to_csv_row` (same order as CSV_HEADER)."""
    if len(cells) < len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} cells, got {len(cells)}")
    return from_json_dict({f.name: cells[i] for i, f in enumerate(FIELDS)})


# --- Spark form ----------------------------------------------------------


def spark_schema() -> Any:
    """The record as a Spark StructType (pyspark imported only when asked)."""
    from pyspark.sql import types as T

    spark_types = {
        "str": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "float": T.DoubleType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
    }
    return T.StructType([T.StructField(f.name, spark_types[f.kind], f.nullable) for f in FIELDS])


def pandas_dtypes() -> dict[str, str]:
    """The pandas dtypes for reading the CSV form with nullable integers and booleans."""
    dtypes = {
        "str": "string",
        "int": "Int64",
        "long": "Int64",
        "float": "Float64",
        "bool": "boolean",
        "timestamp": "string",
    }
    return {f.name: dtypes[f.kind] for f in FIELDS}
