"""Exactly-once Delta tables and the state between micro-batches, written from ``foreachBatch``.

Spark re-runs the last micro-batch after a crash with the same ``batch_id`` and
the same input (its offset log is written before the batch runs), and
``foreachBatch`` is at-least-once. Delta Lake makes every write here
idempotent, in one atomic commit per table and batch:

* a table write is an append with the writer options ``txnAppId`` (the
  streaming query's id) and ``txnVersion`` (the batch id): Delta records them
  in the commit that adds the rows and skips any later write to that table
  whose version is not newer. A replayed batch writes nothing where its first
  attempt committed, and the rest normally. Writer options, never the session
  confs ``spark.databricks.delta.write.txnAppId/txnVersion``: those stay set
  after the write (the next, unrelated write of the session would be silently
  skipped) and two queries of one session would race on them;
* the app id is the query id, kept in the checkpoint: stable across restarts,
  new for a new checkpoint (whose batch ids start at 0 again, so a fixed app id
  would skip every write of it);
* the state after batch ``n`` is one commit to one Delta table,
  ``<checkpoints>/state``: a struct column per named frame (a row holds one
  frame's row) and a ``meta`` row, every row tagged ``batch_id = n`` (the
  partition). Batch ``n`` reads the newest batch before ``n``, so a replay of
  ``n`` starts from the state the first attempt started from, even when that
  attempt had committed its own. Each save replaces every partition but the
  one it was built from (``replaceWhere``: one commit, no file rewritten). The
  commit is atomic: there is no commit mark of our own;
* the tables of a batch are written concurrently (one thread each, sharing the
  session): their commits are independent, and most of a small commit's time
  is the driver's, waiting on the log. The state is committed after them, so
  the newest state is the newest batch whose every table is written.

A replay mixes the first attempt's committed tables with its own for the rest,
so the batch function must be deterministic (same input and state, same rows):
it is, its input being fixed by the offset log. Each commit carries a note (its
query and batch, :func:`pipeline.delta.read.commit_note`) that ``velib history``
shows, and the rows a batch holds in a table are read from that commit's
metrics, whichever attempt wrote it.

Tables are created before the first batch (readers find an empty table) with
deletion vectors off (``deltalake`` cannot read them) and the log and removed
file retention of ``compact.retain_hours``. Paths go through Spark, so local
folders, ``s3a://``, ``abfss://`` and ``dbfs:/`` roots all work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.delta.read import BATCH, DATE, commit_note, read_note

log = logging.getLogger(__name__)

QUERY_ID = "sql.streaming.queryId"  # the local property Spark sets inside foreachBatch
STATE = "state"  # the state's table, under the checkpoint root
META = "meta"  # its column of the batch's metadata (JSON), set on one row a batch
HISTORY_DEPTH = 5  # commits searched for a batch's own (a compaction may have come after it)


def join_path(root: str, *names: str) -> str:
    """``root/name/...`` for local paths and URIs alike (no pathlib: s3a:// must survive)."""
    return "/".join([root.rstrip("/"), *names])


def sql_table(path: str) -> str:
    """A path as a Delta table name in SQL."""
    return "delta.`" + path.replace("`", "``") + "`"


def nullable(kind: T.DataType) -> T.DataType:
    """A type with every field and element nullable, as a table created from DDL has them.

    A write is cast to the table's types; a cast cannot make an array's elements
    non-nullable, so the frame's ``array<string>`` of ``from_json`` (elements may be
    null) must meet the same loose type, never the schema's stricter one.
    """
    if isinstance(kind, T.StructType):
        return T.StructType([T.StructField(f.name, nullable(f.dataType), True) for f in kind])
    if isinstance(kind, T.ArrayType):
        return T.ArrayType(nullable(kind.elementType), True)
    if isinstance(kind, T.MapType):
        return T.MapType(nullable(kind.keyType), nullable(kind.valueType), True)
    return kind


def retention(hours: float) -> str:
    """Hours as a Delta interval property value."""
    return f"interval {round(hours * 60)} minutes"


class DeltaStore:
    """Tables under ``out_root`` and the state under ``checkpoints``, written per batch.

    Args:
        spark: the session (with Delta's extension and catalog).
        out_root: the tables' root.
        checkpoints: the checkpoint root; the state goes under its ``state/``.
        app_id: the idempotency key; default the streaming query's id, read in the
            batch (a write outside a streaming query needs one given).
        retain_hours: log and removed-file retention of the tables, and of the state.
    """

    def __init__(
        self,
        spark: SparkSession,
        out_root: str,
        checkpoints: str,
        app_id: str | None = None,
        retain_hours: tuple[float, float] = (168.0, 1.0),
    ) -> None:
        self.spark = spark
        self.out_root = out_root
        self.checkpoints = checkpoints
        self.app_id = app_id
        self.retain_hours = retain_hours
        self.schemas: dict[str, T.StructType] = {}  # every table's, by path
        self._base: dict[int, int] = {}  # batch id -> the batch its state was read from

    def path(self, name: str) -> str:
        """Where a table lives."""
        return join_path(self.out_root, name)

    def state_path(self) -> str:
        """Where the state lives."""
        return join_path(self.checkpoints, STATE)

    def _create(self, path: str, schema: T.StructType, partition: str, hours: float) -> None:
        # every column nullable: a null is a value, never a failed batch; date (or batch_id)
        # is the partition. CREATE ... IF NOT EXISTS leaves an existing table as it is.
        loose = nullable(schema)
        assert isinstance(loose, T.StructType)
        self.schemas[path] = loose  # what every write is cast to: the table's own types
        jvm = self.spark.sparkContext._jvm  # type: ignore[attr-defined]
        columns = jvm.org.apache.spark.sql.types.DataType.fromJson(loose.json()).toDDL()
        parts = f" PARTITIONED BY (`{partition}`)" if partition in schema.fieldNames() else ""
        properties = {
            "delta.enableDeletionVectors": "false",
            "delta.logRetentionDuration": retention(hours),
            "delta.deletedFileRetentionDuration": retention(hours),
        }
        props = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {sql_table(path)} ({columns}) USING delta{parts}"
            f" TBLPROPERTIES ({props})"
        )

    def ensure_tables(self, schemas: Mapping[str, T.StructType]) -> None:
        """Create every table (empty) that does not exist yet, partitioned by ``date``."""
        for name, schema in schemas.items():
            self._create(self.path(name), schema, DATE, self.retain_hours[0])

    def _ensure_state(self, schemas: Mapping[str, T.StructType]) -> None:
        frames = [T.StructField(name, schemas[name]) for name in sorted(schemas)]
        schema = T.StructType(
            [T.StructField(BATCH, T.LongType()), T.StructField(META, T.StringType()), *frames]
        )
        known = self.schemas.get(self.state_path())
        if known is None or set(schema.fieldNames()) - set(known.fieldNames()):
            self._create(self.state_path(), schema, BATCH, self.retain_hours[1])

    def _query(self) -> str:
        app = self.app_id or self.spark.sparkContext.getLocalProperty(QUERY_ID)
        if not app:
            raise RuntimeError("no streaming query id: write from foreachBatch, or give app_id")
        return app

    def _save(
        self, path: str, frame: DataFrame, batch_id: int, app: str, keep: int | None = None
    ) -> None:
        """Commit one batch's frame to a table once (a replay's write is skipped)."""
        schema = self.schemas[path]
        frame = frame.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
        writer = (
            frame.write.format("delta")
            .option("txnAppId", app)
            .option("txnVersion", batch_id)
            .option("userMetadata", commit_note(app, batch_id))
        )
        if keep is None:
            writer = writer.mode("append")
        else:  # the state: this batch's partition in, every other but `keep` out;
            # a frame added to the state is a new column of it
            writer = (
                writer.mode("overwrite")
                .option("replaceWhere", f"{BATCH} <> {keep}")
                .option("mergeSchema", "true")
            )
        writer.save(path)

    def _rows(self, path: str, app: str, batch_id: int) -> int:
        """The rows a batch's commit wrote to a table (whichever attempt made it)."""
        mine = {"batch_id": batch_id, "query_id": app}
        history = self.spark.sql(f"DESCRIBE HISTORY {sql_table(path)} LIMIT {HISTORY_DEPTH}")
        for commit in history.select("userMetadata", "operationMetrics").collect():
            if read_note(commit["userMetadata"]) == mine:
                return int((commit["operationMetrics"] or {}).get("numOutputRows", 0))
        return 0

    def _write(self, name: str, frame: DataFrame, batch_id: int, app: str) -> int:
        path = self.path(name)
        self._save(path, frame, batch_id, app)
        return self._rows(path, app, batch_id)

    def write(self, name: str, frame: DataFrame, batch_id: int) -> int:
        """Append one batch to a table, once; returns the rows the batch holds in it."""
        return self._write(name, frame, batch_id, self._query())

    def write_all(self, frames: Mapping[str, DataFrame], batch_id: int) -> dict[str, int]:
        """:meth:`write` every table of a batch at once; the rows each holds, by name."""
        app = self._query()  # a local property of this thread, not of the pool's
        with ThreadPoolExecutor(max_workers=max(1, len(frames))) as pool:
            done = {n: pool.submit(self._write, n, f, batch_id, app) for n, f in frames.items()}
        return {name: future.result() for name, future in done.items()}

    # --- state -------------------------------------------------------------------

    def load_state(
        self, batch_id: int, schemas: Mapping[str, T.StructType]
    ) -> tuple[dict[str, DataFrame], dict[str, Any]]:
        """The frames and metadata committed by the newest batch before ``batch_id``.

        Every name of ``schemas`` gets a frame (empty at first, or when that
        version did not keep one), so adding a state frame needs no migration.
        """
        self._ensure_state(schemas)
        table = self.spark.read.format("delta").load(self.state_path())
        marks = (
            table.where((F.col(BATCH) < batch_id) & F.col(META).isNotNull())
            .select(BATCH, META)
            .orderBy(F.col(BATCH).desc())
            .limit(1)
            .collect()
        )
        empty = {n: self.spark.createDataFrame([], s) for n, s in schemas.items()}
        if not marks:
            return empty, {}
        base = self._base[batch_id] = int(marks[0][BATCH])
        frames = {
            name: table.where((F.col(BATCH) == base) & F.col(name).isNotNull()).select(
                *[F.col(name)[f].alias(f) for f in schema.fieldNames()]
            )
            if name in table.columns
            else empty[name]
            for name, schema in schemas.items()
        }
        return frames, json.loads(marks[0][META])

    def save_state(
        self, batch_id: int, frames: Mapping[str, DataFrame], meta: dict[str, Any]
    ) -> None:
        """Commit the state after ``batch_id``: every frame and the metadata, in one commit."""
        self._ensure_state({name: frame.schema for name, frame in frames.items()})
        keep = self._base.pop(batch_id, batch_id - 1)  # a replay of batch_id reads it
        marked = self.spark.createDataFrame(
            [(json.dumps(meta, sort_keys=True),)],
            T.StructType([T.StructField(META, T.StringType())]),
        )
        kinds = {f.name: f.dataType for f in self.schemas[self.state_path()].fields}
        parts = [  # a struct casts field by field in order: the table's order
            f.select(F.struct(*kinds[n].fieldNames()).alias(n))  # type: ignore[attr-defined]
            for n, f in sorted(frames.items())
        ]
        rows = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts, marked)
        tagged = rows.withColumn(BATCH, F.lit(batch_id).cast("long")).coalesce(1)
        self._save(self.state_path(), tagged, batch_id, self._query(), keep)
