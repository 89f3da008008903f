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
* the state after batch ``n`` is one Delta table per named frame under
  ``<checkpoints>/state/``, its rows tagged ``batch_id = n`` (the partition),
  and a row in ``state/_meta`` written last, the commit mark. Batch ``n``
  reads the newest mark before ``n`` and the frames of that batch, so a replay
  of ``n`` starts from the state the first attempt started from, even when
  that attempt had committed its own. Each save replaces every partition but
  the one it was built from (``replaceWhere``: one commit, no file rewritten).

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
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.delta.read import BATCH, DATE, commit_note, read_note

log = logging.getLogger(__name__)

QUERY_ID = "sql.streaming.queryId"  # the local property Spark sets inside foreachBatch
STATE = "state"
META = "_meta"
META_SCHEMA = T.StructType(
    [T.StructField(BATCH, T.LongType()), T.StructField("meta", T.StringType())]
)
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

    def state_path(self, name: str) -> str:
        """Where a state frame (or ``_meta``) lives."""
        return join_path(self.checkpoints, STATE, name)

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
        for name, schema in schemas.items():
            if self.state_path(name) not in self.schemas:
                with_batch = T.StructType([*schema.fields, T.StructField(BATCH, T.LongType())])
                self._create(self.state_path(name), with_batch, BATCH, self.retain_hours[1])
        if self.state_path(META) not in self.schemas:
            self._create(self.state_path(META), META_SCHEMA, BATCH, self.retain_hours[1])

    def _query(self) -> str:
        app = self.app_id or self.spark.sparkContext.getLocalProperty(QUERY_ID)
        if not app:
            raise RuntimeError("no streaming query id: write from foreachBatch, or give app_id")
        return app

    def _save(self, path: str, frame: DataFrame, batch_id: int, keep: int | None = None) -> str:
        """Commit one batch's frame to a table once; returns the app id it used."""
        schema = self.schemas[path]
        frame = frame.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
        app = self._query()
        writer = (
            frame.write.format("delta")
            .option("txnAppId", app)
            .option("txnVersion", batch_id)
            .option("userMetadata", commit_note(app, batch_id))
        )
        if keep is None:
            writer = writer.mode("append")
        else:  # the state: this batch's partition in, every other but `keep` out
            writer = writer.mode("overwrite").option("replaceWhere", f"{BATCH} <> {keep}")
        writer.save(path)
        return app

    def _rows(self, path: str, app: str, batch_id: int) -> int:
        """The rows a batch's commit wrote to a table (whichever attempt made it)."""
        mine = {"batch_id": batch_id, "query_id": app}
        history = self.spark.sql(f"DESCRIBE HISTORY {sql_table(path)} LIMIT {HISTORY_DEPTH}")
        for commit in history.select("userMetadata", "operationMetrics").collect():
            if read_note(commit["userMetadata"]) == mine:
                return int((commit["operationMetrics"] or {}).get("numOutputRows", 0))
        return 0

    def write(self, name: str, frame: DataFrame, batch_id: int) -> int:
        """Append one batch to a table, once; returns the rows the batch holds in it."""
        path = self.path(name)
        return self._rows(path, self._save(path, frame, batch_id), batch_id)

    # --- state -------------------------------------------------------------------

    def load_state(
        self, batch_id: int, schemas: Mapping[str, T.StructType]
    ) -> tuple[dict[str, DataFrame], dict[str, Any]]:
        """The frames and metadata committed by the newest batch before ``batch_id``.

        Every name of ``schemas`` gets a frame (empty at first, or when that
        version did not keep one), so adding a state frame needs no migration.
        """
        self._ensure_state(schemas)
        read = self.spark.read.format("delta")
        marks = (
            read.load(self.state_path(META))
            .where(F.col(BATCH) < batch_id)
            .orderBy(F.col(BATCH).desc())
            .limit(1)
            .collect()
        )
        if not marks:
            empty = {n: self.spark.createDataFrame([], s) for n, s in schemas.items()}
            return empty, {}
        base = self._base[batch_id] = int(marks[0][BATCH])
        frames = {
            name: read.load(self.state_path(name))
            .where(F.col(BATCH) == base)
            .select(*schema.fieldNames())
            for name, schema in schemas.items()
        }
        return frames, json.loads(marks[0]["meta"])

    def save_state(
        self, batch_id: int, frames: Mapping[str, DataFrame], meta: dict[str, Any]
    ) -> None:
        """Commit the state after ``batch_id``: the frames first, the meta row last."""
        self._ensure_state({name: frame.schema for name, frame in frames.items()})
        keep = self._base.pop(batch_id, batch_id - 1)  # a replay of batch_id reads it
        for name, frame in frames.items():
            tagged = frame.withColumn(BATCH, F.lit(batch_id).cast("long")).coalesce(1)
            self._save(self.state_path(name), tagged, batch_id, keep)
        row = self.spark.createDataFrame(
            [(batch_id, json.dumps(meta, sort_keys=True))], META_SCHEMA
        )
        self._save(self.state_path(META), row.coalesce(1), batch_id, keep)
