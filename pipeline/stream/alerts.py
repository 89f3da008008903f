"""Alerts leave the stream as JSON on the alerts topic, one message per condition change.

The alert rows themselves come from the per-station state pass
(:func:`pipeline.stream.timeline.alert_rows`); their columns and meaning are
``vocabulary.ALERT``. This module only renders a batch's rows (Arrow, as the
driver holds them to commit ``alerts/``) for Kafka: key = station code (one
station's alerts stay ordered), value = the row as JSON with the record's UTC
``Z`` times (:func:`pipeline.record.format_timestamp`) and explicit nulls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
from pyspark.sql import types as T

from pipeline import vocabulary
from pipeline.record import format_timestamp

COLUMNS: tuple[str, ...] = tuple(n for n in vocabulary.names(vocabulary.ALERT) if n != "date")


def output_schema() -> T.StructType:
    """The schema of the ``alerts/`` table."""
    return vocabulary.spark_schema(vocabulary.ALERT)


def _plain(value: Any) -> Any:
    return format_timestamp(value) if isinstance(value, datetime) else value


def messages(rows: pa.Table) -> Iterator[tuple[str, bytes]]:
    """Each alert row as a Kafka (key, value): the station code, the row's ``COLUMNS`` as JSON."""
    for row in rows.select(list(COLUMNS)).to_pylist():
        value = {name: _plain(row[name]) for name in COLUMNS}  # consumers see "previous": null
        yield row["station_code"], orjson.dumps(value)
