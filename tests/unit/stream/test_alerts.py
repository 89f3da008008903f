"""stream.alerts without Spark: the JSON columns and the alerts/ schema agree with the vocabulary.

alerts_json itself builds a Spark column expression that only runs in a SparkSession, so
its rendering is left to the integration tests (no JVM here); pyspark's type classes are
plain Python and are checked directly.
"""

from __future__ import annotations

from pyspark.sql import types as T

from pipeline import vocabulary
from pipeline.stream import alerts


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
