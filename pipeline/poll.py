"""The poll record: one message per snapshot ingest reads, defined once.

The status topic is a change log: it cannot tell a station that was polled and
stayed the same from one nobody looked at. So every snapshot ingest reads (a
live poll, a recorded file, an archived poll), including a failed poll and a
stale answer, is also one message on the polls topic, keyed by ``source``:
when it was observed, where it came from, how many stations it held and which
(``listed``), so the stream knows when each station was *seen*, not only when
it *changed*. The JSON value, the Spark schema and the table of
docs/outputs.md derive from :data:`FIELDS`. Imports only the record's
timestamp format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pipeline.record import format_timestamp, parse_timestamp

SCHEMA_VERSION = 1
PARTITIONS = 1  # every poll of every source in one order: the stream's poll frontier

Kind = Literal["str", "int", "bool", "timestamp", "strs"]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the poll record."""

    name: str
    kind: Kind
    nullable: bool
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("schema_version", "int", False, "version of this record layout"),
    Field("source", "str", False, "gbfs | opendata | replay:<format> (the Kafka key)"),
    Field("origin", "str", False, "the file path or URL the snapshot came from"),
    Field("observed_at", "timestamp", False, "the snapshot's time, as on its station records"),
    Field(
        "polled_at",
        "timestamp",
        True,
        "wall time of a live poll (kept by the archive); null for third-party recordings",
    ),
    Field("feed_time", "timestamp", True, "the feed's own last_updated, when the payload has one"),
    Field("ok", "bool", False, "false for a failed poll or a stale snapshot"),
    Field("reason", "str", True, "why the poll is not ok (null when it is)"),
    Field("stations", "int", False, "station records in the snapshot"),
    Field("emitted", "int", False, "station records sent to the status topic for it"),
    Field("rejected", "int", False, "rows sent to the dead-letter topic for it"),
    Field("listed", "strs", False, "sorted codes of the stations it saw (empty unless ok)"),
    Field(
        "disappeared",
        "strs",
        False,
        "codes the source's previous ok poll listed and this one does not",
    ),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


@dataclass(frozen=True, slots=True)
class Poll:
    """One snapshot as ingest read it."""

    source: str
    origin: str
    observed_at: datetime
    polled_at: datetime | None
    feed_time: datetime | None
    ok: bool
    reason: str | None
    stations: int
    emitted: int
    rejected: int
    listed: tuple[str, ...]
    disappeared: tuple[str, ...]
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        """The Kafka key: the source (one source's polls stay in order)."""
        return self.source

    def to_dict(self) -> dict[str, Any]:
        """Plain values in FIELDS order (datetimes stay datetimes, code lists are lists)."""
        return {
            f.name: list(getattr(self, f.name)) if f.kind == "strs" else getattr(self, f.name)
            for f in FIELDS
        }


def to_json_dict(poll: Poll) -> dict[str, Any]:
    """The JSON-ready dict (timestamps as ISO strings, code lists as lists)."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        value = getattr(poll, f.name)
        if f.kind == "timestamp" and value is not None:
            value = format_timestamp(value)
        elif f.kind == "strs":
            value = list(value)
        out[f.name] = value
    return out


def to_json(poll: Poll) -> bytes:
    """The Kafka message value: compact UTF-8 JSON, fields in :data:`FIELDS` order."""
    return json.dumps(to_json_dict(poll), ensure_ascii=False, separators=(",", ":")).encode()


def _coerce(field: Field, value: Any) -> Any:
    if value is None:
        if field.nullable:
            return None
        raise ValueError(f"{field.name} is required")
    kind = field.kind
    if kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{field.name} is not a list of codes")
        return tuple(value)
    if kind == "timestamp":
        return parse_timestamp(str(value))
    expected = {"str": str, "int": int, "bool": bool}[kind]
    if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
        raise ValueError(f"{field.name}={value!r} is not a {kind}")
    return value


def from_json_dict(data: Mapping[str, Any]) -> Poll:
    """Build a poll from its JSON dict; ValueError on a missing or mistyped field."""
    values = {f.name: _coerce(f, data.get(f.name)) for f in FIELDS}
    if values["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"unsupported poll schema_version {values['schema_version']}")
    return Poll(**values)


def from_json(value: bytes | str) -> Poll:
    """Parse a polls-topic message value."""
    data = json.loads(value)
    if not isinstance(data, Mapping):
        raise ValueError("a poll is a JSON object")
    return from_json_dict(data)


def spark_schema() -> Any:
    """The poll as a Spark StructType (pyspark imported only when asked)."""
    from pyspark.sql import types as T

    spark_types = {
        "str": T.StringType(),
        "int": T.IntegerType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "strs": T.ArrayType(T.StringType(), containsNull=False),
    }
    return T.StructType([T.StructField(f.name, spark_types[f.kind], f.nullable) for f in FIELDS])


def markdown() -> str:
    """The docs/outputs.md section of the ``polls/`` table: one line per column."""
    lines = [
        "**`polls/`** — one row per snapshot ingest read (a repeated one goes to `_rejected/`).",
        "",
        "| column | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.doc} |" for f in FIELDS]
    lines.append("| `date` | UTC date of observed_at (partition column) |")
    return "\n".join(lines)
