"""The border between Spark and Arrow: a micro-batch's frames out, the kept state in.

Spark computes a batch's outputs (:mod:`pipeline.stream.timeline`); the driver
commits them with delta-rs (:mod:`pipeline.stream.tables`). :func:`collect`
takes every frame of the batch to Arrow in **one Spark job**: the frames are
packed side by side into one union (a tag column and a struct column per
frame), so their shared inputs (the parsed batch, the timeline) are computed
once and the job pays Spark's fixed cost once, not once per table. The kept
state goes the other way (:func:`to_spark`): a few thousand rows from memory.

A batch's rows pass through the driver: size replays with
``--max-offsets-per-trigger`` when the driver is small (the output does not
depend on the cut, docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

TAG = "_frame"


def arrow_schema(schema: T.StructType) -> pa.Schema:
    """A Spark schema as Arrow, timestamps as UTC microseconds (what Spark's Arrow gives)."""
    return to_arrow_schema(schema, timezone="UTC")


def _unpack(packed: pa.Table, index: int, column: str, schema: T.StructType) -> pa.Table:
    rows = packed.filter(pc.equal(packed[TAG], index))
    target = arrow_schema(schema)
    if rows.num_rows == 0:
        return target.empty_table()
    return pa.Table.from_struct_array(rows[column].combine_chunks()).cast(target)


def collect(frames: Mapping[str, DataFrame]) -> dict[str, pa.Table]:
    """Every frame's rows as Arrow, computed in one Spark job; by name, in Spark's types."""
    if not frames:
        return {}
    names = list(frames)
    columns = {name: f"_{i}" for i, name in enumerate(names)}
    parts = [
        frame.select(F.lit(i).alias(TAG), F.struct(*frame.columns).alias(columns[name]))
        for i, (name, frame) in enumerate(frames.items())
    ]
    union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    # Arrow batches as Spark sends them: its to-table cast cannot loosen a struct field's
    # nullability, and each frame is cast to its own schema below anyway
    batches = union._collect_as_arrow()  # noqa: SLF001 - toArrow without its failing cast
    packed = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    if packed is None or packed.num_rows == 0:
        return {name: arrow_schema(frames[name].schema).empty_table() for name in names}
    return {
        name: _unpack(packed, i, columns[name], frames[name].schema) for i, name in enumerate(names)
    }


def to_spark(spark: SparkSession, rows: pa.Table, schema: T.StructType) -> DataFrame:
    """Arrow rows (the kept state) as a Spark frame of ``schema``."""
    if rows.num_rows == 0:
        return spark.createDataFrame([], schema)
    frame = spark.createDataFrame(rows.select(schema.fieldNames()))
    return frame.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
