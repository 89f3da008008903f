"""stream.alerts without Spark: the JSON columns and the alerts/ schema agree with the vocabulary.

A batch's alert rows reach the driver as Arrow; their rendering for Kafka is checked
on such rows here (no JVM), and end to end in the integration tests.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from pyspark.sql import types as T

from pipeline import vocabulary
from pipeline.stream import alerts
from pipeline.stream.arrow import arrow_schema


def test_json_columns_are_the_alert_columns_without_the_partition() -> None:
    assert alerts.COLUMNS == (
        "station_code", "alert", "previous", "condition", "at", "seen_before_at",
        "bikes_available", "docks_available", "commune", "arrondissement",
    )  # fmt: skip
    assert "date" not in alerts.COLUMNS
    assert alerts.COLUMNS[0] == "station_code"  # the topic's key is in the value too


def test_output_schema_is_the_vocabulary_table() -> None:
    schema = alerts.output_schema()
    assert isinstance(schema, T.StructType)
    assert tuple(schema.fieldNames()) == (*alerts.COLUMNS, "date")
    kinds = {f.name: f.dataType for f in schema.fields}
    assert kinds["at"] == T.TimestampType() and kinds["date"] == T.DateType()
    assert kinds["seen_before_at"] == T.TimestampType()
    assert kinds["bikes_available"] == T.IntegerType()
    assert kinds["previous"] == T.StringType()
    assert all(f.nullable for f in schema.fields)  # "previous" is null on a first record
    assert [c.name for c in vocabulary.ALERT] == schema.fieldNames()


def test_every_alert_kind_is_documented() -> None:
    doc = next(c.doc for c in vocabulary.ALERT if c.name == "alert")
    assert set(doc.split(" | ")) == set(vocabulary.ALERTS)


def test_messages_are_keyed_by_station_with_utc_times_and_explicit_nulls() -> None:
    at = dt.datetime(2022, 5, 12, 10, 22, 18, tzinfo=dt.UTC)
    row = {name: None for name in alerts.COLUMNS} | {
        "station_code": "16107",
        "alert": "empty",
        "condition": "empty",
        "at": at,
        "bikes_available": 0,
        "docks_available": 21,
        "arrondissement": 16,
        "date": at.date(),
    }
    rows = pa.Table.from_pylist([row], schema=arrow_schema(alerts.output_schema()))
    [(key, value)] = list(alerts.messages(rows))
    message = json.loads(value)
    assert key == "16107" and list(message) == list(alerts.COLUMNS)
    assert message["at"] == "2022-05-12T10:22:18Z" and message["previous"] is None
    assert message["seen_before_at"] is None and message["arrondissement"] == 16
