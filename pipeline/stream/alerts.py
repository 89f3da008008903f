"""Alerts leave the stream as JSON on the alerts topic, one message per condition change.

The alert rows themselves come from the per-station state pass
(:func:`pipeline.stream.timeline.alert_rows`); their columns and meaning are
``vocabulary.ALERT``. This module only renders them for Kafka: key = station
code (one station's alerts stay ordered), value = the row as JSON with UTC
``Z`` times and explicit nulls.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import vocabulary

COLUMNS: tuple[str, ...] = tuple(n for n in vocabulary.names(vocabulary.ALERT) if n != "date")


def output_schema() -> T.StructType:
    """The schema of the ``alerts/`` Parquet table."""
    return vocabulary.spark_schema(vocabulary.ALERT)


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
