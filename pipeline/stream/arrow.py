"""The border between Spark and Arrow: a micro-batch's frames out, the kept state in.

Spark computes a batch's outputs (:mod:`pipeline.stream.timeline`); the driver
commits them with delta-rs (:mod:`pipeline.stream.tables`). :func:`collect`
takes every frame of the batch to Arrow at once: one Spark job per frame, all
submitted together from threads, so Spark's scheduler overlaps their stages on
the cores and each frame's shared inputs (the parsed batch, the timeline) are
computed once, cached. Measured against packing every frame into one union
collected by one job (docs/benchmarks.md): the union's final stage holds every
frame's partitions and serialises their structs, and took longer at both ends
(a live-sized batch and a 50,000-record one). The kept state goes the other way
(:func:`to_spark`): a few thousand rows from memory.

What comes through here is small: a live batch's rows, and a large batch's
alerts, polls, rejects and state. A large batch's big tables are written by
Spark's tasks as files (:mod:`pipeline.stream.files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema


def arrow_schema(schema: T.StructType) -> pa.Schema:
    """A Spark schema as Arrow, timestamps as UTC microseconds (what Spark's Arrow gives)."""
    return to_arrow_schema(schema, timezone="UTC")


def _arrow(frame: DataFrame) -> pa.Table:
    """One frame's rows as Arrow in its own schema's types."""
    schema = arrow_schema(frame.schema)
    # Arrow batches as Spark sends them: toArrow's own cast cannot loosen a nested
    # field's nullability, and the cast below gives every frame its schema anyway
    # pyspark's stubs take the private method for a column access
    batches = frame._collect_as_arrow()  # type: ignore[operator]  # noqa: SLF001
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=batches[0].schema).cast(schema)


def collect(frames: Mapping[str, DataFrame]) -> dict[str, pa.Table]:
    """Every frame's rows as Arrow, by name, the jobs running side by side."""
    if not frames:
        return {}
    with ThreadPoolExecutor(max_workers=len(frames)) as pool:
        futures = {name: pool.submit(_arrow, frame) for name, frame in frames.items()}
    return {name: future.result() for name, future in futures.items()}


def to_spark(spark: SparkSession, rows: pa.Table, schema: T.StructType) -> DataFrame:
    """Arrow rows (the kept state) as a Spark frame of ``schema``."""
    if rows.num_rows == 0:
        return spark.createDataFrame([], schema)
    frame = spark.createDataFrame(rows.select(schema.fieldNames()))
    return frame.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
