"""Exactly-once Parquet tables and a versioned state, written from ``foreachBatch``.

Spark re-runs the last micro-batch after a crash with the same ``batch_id``
and the same input (its offset log is written before the batch runs), and
``foreachBatch`` is at-least-once. So every write here is keyed by the batch
id and replaces what an earlier attempt of the same batch left (the idempotent
pattern of the Structured Streaming guide):

* a table's files are named ``part-<batch>-<n>.parquet`` under
  ``<table>/date=YYYY-MM-DD/``: a batch is staged under the checkpoint, then
  any files of the same batch are deleted and the staged ones renamed in;
* the state after batch ``n`` is ``<checkpoints>/state/<n>/``: one folder per
  named frame (the kept records, ...) and ``meta.json``, written last as its
  commit mark; batch ``n`` reads the newest committed version before ``n``, so
  a replayed batch starts from the same state as the first attempt.

Files go through Hadoop's FileSystem API, so local folders, ``s3a://``,
``abfss://`` and ``dbfs:/`` roots all work.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

log = logging.getLogger(__name__)

META = "meta.json"


def join_path(root: str, *names: str) -> str:
    """``root/name/...`` for local paths and URIs alike (no pathlib: s3a:// must survive)."""
    return "/".join([root.rstrip("/"), *names])


class Files:
    """The few Hadoop FileSystem calls the store needs, from the driver."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        self._path = jvm.org.apache.hadoop.fs.Path
        conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        self._fs = self._path(root).getFileSystem(conf)

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a glob pattern (sorted)."""
        found = self._fs.globStatus(self._path(pattern)) or []
        return sorted(str(status.getPath().toString()) for status in found)

    def exists(self, path: str) -> bool:
        """True when the path exists."""
        return bool(self._fs.exists(self._path(path)))

    def mkdirs(self, path: str) -> None:
        """Create a folder and its parents."""
        self._fs.mkdirs(self._path(path))

    def delete(self, path: str) -> None:
        """Delete a file or a folder tree (no error when absent)."""
        self._fs.delete(self._path(path), True)

    def rename(self, src: str, dst: str) -> None:
        """Move a file, replacing nothing: the caller deletes first."""
        self.mkdirs(str(self._path(dst).getParent().toString()))
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def write_text(self, path: str, text: str) -> None:
        """Write a small text file (overwriting)."""
        out = self._fs.create(self._path(path), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def read_text(self, path: str) -> str:
        """Read a small text file."""
        stream = self._fs.open(self._path(path))
        try:
            jvm_bytes = stream.readAllBytes()
        finally:
            stream.close()
        return bytes(jvm_bytes).decode("utf-8")


class BatchStore:
    """Tables under ``out_root`` and state under ``checkpoints``, written per batch."""

    def __init__(self, spark: SparkSession, out_root: str, checkpoints: str) -> None:
        self.spark = spark
        self.out_root = out_root
        self.checkpoints = checkpoints
        self.files = Files(spark, out_root)

    def ensure_tables(self, schemas: Mapping[str, T.StructType]) -> None:
        """Create the table folders, so readers find an (empty) table before the first row."""
        for name in schemas:
            self.files.mkdirs(join_path(self.out_root, name))

    def write(self, name: str, frame: DataFrame, batch_id: int) -> None:
        """Write one batch of a table partitioned by ``date``, replacing an earlier attempt."""
        staging = join_path(self.checkpoints, "_staging", name, str(batch_id))
        frame.write.mode("overwrite").partitionBy("date").parquet(staging)
        table = join_path(self.out_root, name)
        prefix = f"part-{batch_id:010d}-"
        for old in self.files.glob(join_path(table, "date=*", prefix + "*")):
            self.files.delete(old)
        staged = self.files.glob(join_path(staging, "date=*", "*.parquet"))
        for n, path in enumerate(staged):
            partition = path.rstrip("/").split("/")[-2]
            self.files.rename(path, join_path(table, partition, f"{prefix}{n:05d}.parquet"))
        self.files.delete(staging)

    def read_batch(self, name: str, batch_id: int, schema: T.StructType) -> DataFrame:
        """The rows one batch wrote to a table (``date`` read back from the folder names)."""
        files = self.files.glob(
            join_path(self.out_root, name, "date=*", f"part-{batch_id:010d}-*.parquet")
        )
        if not files:
            return self.spark.createDataFrame([], schema)
        table = join_path(self.out_root, name)
        return (
            self.spark.read.schema(schema)
            .option("basePath", table)
            .parquet(*files)
            .select(*schema.fieldNames())
        )

    # --- state -------------------------------------------------------------------

    def _state_dir(self, batch_id: int) -> str:
        return join_path(self.checkpoints, "state", f"{batch_id:010d}")

    def load_state(
        self, batch_id: int, schemas: Mapping[str, T.StructType]
    ) -> tuple[dict[str, DataFrame], dict[str, Any]]:
        """The frames and metadata committed by the newest batch before ``batch_id``.

        Every name of ``schemas`` gets a frame (empty at first, or when that
        version did not keep one), so adding a state frame needs no migration.
        """
        versions = []
        for path in self.files.glob(join_path(self.checkpoints, "state", "*", META)):
            version = int(path.rstrip("/").split("/")[-2])
            if version < batch_id:
                versions.append(version)
        empty = {name: self.spark.createDataFrame([], schema) for name, schema in schemas.items()}
        if not versions:
            return empty, {}
        folder = self._state_dir(max(versions))
        meta = json.loads(self.files.read_text(join_path(folder, META)))
        frames = {
            name: self.spark.read.schema(schema).parquet(join_path(folder, name))
            if self.files.exists(join_path(folder, name))
            else empty[name]
            for name, schema in schemas.items()
        }
        return frames, meta

    def save_state(
        self, batch_id: int, frames: Mapping[str, DataFrame], meta: dict[str, Any]
    ) -> None:
        """Commit the state after ``batch_id`` (frames first, meta.json last), drop old ones."""
        folder = self._state_dir(batch_id)
        self.files.delete(join_path(folder, META))
        for name, frame in frames.items():
            frame.write.mode("overwrite").parquet(join_path(folder, name))
        self.files.write_text(join_path(folder, META), json.dumps(meta, sort_keys=True))
        for path in self.files.glob(join_path(self.checkpoints, "state", "*")):
            version = int(path.rstrip("/").split("/")[-1])
            if version < batch_id - 1:  # keep the previous one: a replay of batch_id needs it
                self.files.delete(path)


def progress(checkpoints: Path) -> dict[str, Any]:
    """The newest committed batch of a local checkpoint folder: number, age, completeness.

    For the status line of a live run; reads files only, no Spark.
    """
    commits = [p for p in (checkpoints / "stream" / "commits").glob("[0-9]*") if p.is_file()]
    if not commits:
        return {"spark_batch": None}
    last = max(commits, key=lambda p: int(p.name))
    ago = time.time() - last.stat().st_mtime
    states = sorted((checkpoints / "state").glob(f"*/{META}"))
    until = None
    if states:
        us = json.loads(states[-1].read_text(encoding="utf-8")).get("complete_until_us")
        until = datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%MZ") if us else None
    return {"spark_batch": int(last.name), "spark_batch_age_s": round(ago), "complete_until": until}
