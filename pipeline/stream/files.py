"""A large batch's table rows written by Spark's tasks, as Parquet files in the table's folder.

A live poll's batch is small: its rows reach the driver as Arrow and delta-rs
writes and commits them in milliseconds (:mod:`pipeline.stream.arrow`). A
replay's batch holds hundreds of thousands of station-window rows: funnelled
through the driver they cost its memory and a serialisation, and on a cluster
they would cross the network twice. So the big tables of a big batch are
written by Spark's tasks, where the rows are, and the driver commits only
their add actions with delta-rs (:meth:`pipeline.stream.tables.DeltaTables.commit`),
with the batch's app transaction as for Arrow rows.

Each attempt writes into a folder of its own inside the table,
``<table>/batch-<id>-<attempt>/date=YYYY-MM-DD/part-*.parquet``: a replay after
a crash never touches the files an earlier attempt may have committed, and the
files of an attempt that never committed are named by no commit, so readers
never see them and ``VACUUM`` (``velib compact``) removes them.

The files carry what Delta's readers need: timestamps as UTC microseconds
(not Spark's legacy INT96), the partition value in the add action, each
file's row count in its statistics (no min/max: nothing reads the stream's
tables by a data-skipping filter that would need them).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote

import pyarrow.parquet as pq
from pyarrow import fs as pafs
from pyspark.sql import DataFrame

from pipeline.delta.read import DATE

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a null partition value
TIMESTAMPS = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"}


@dataclass(frozen=True)
class DataFile:
    """One Parquet file written into a table's folder, as its Delta add action needs it.

    Attributes:
        path: relative to the table's root, ``/``-separated.
        size: bytes.
        partition: the ``date`` partition's value as text (None: a null date).
        modified_ms: the file's modification time, epoch milliseconds.
        rows: its row count (read from its footer).
    """

    path: str
    size: int
    partition: str | None
    modified_ms: int
    rows: int

    def stats(self) -> str:
        """Delta's statistics of the file: its row count."""
        return json.dumps({"numRecords": self.rows})


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """The file system and the path in it of a local folder or a URI."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), PurePosixPath(os.path.abspath(root)).as_posix()


def partition_of(relative: str) -> str | None:
    """The ``date`` value of a file from its Hive-style folder (``date=2022-05-12``)."""
    for part in PurePosixPath(relative).parts:
        if part.startswith(f"{DATE}="):
            value = unquote(part.split("=", 1)[1])
            return None if value == HIVE_NULL else value
    return None


def list_files(table_path: str, folder: str) -> list[DataFile]:
    """The Parquet files under ``table_path/folder``, with their sizes and row counts."""
    filesystem, root = _filesystem(table_path)
    selector = pafs.FileSelector(f"{root.rstrip('/')}/{folder}", recursive=True)
    found = []
    for info in filesystem.get_file_info(selector):
        name = info.base_name
        if info.type != pafs.FileType.File or not name.endswith(".parquet"):
            continue  # Spark's _SUCCESS, and the .crc files of the local file system
        if name.startswith((".", "_")):
            continue
        relative = info.path[len(root.rstrip("/")) + 1 :]
        with filesystem.open_input_file(info.path) as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
        found.append(
            DataFile(
                path=relative,
                size=int(info.size or 0),
                partition=partition_of(relative),
                modified_ms=int(info.mtime_ns or 0) // 1_000_000,
                rows=int(rows),
            )
        )
    return sorted(found, key=lambda f: f.path)


def write(frame: DataFrame, table_path: str, batch_id: int) -> list[DataFile]:
    """Write a frame's rows into a new folder of the table, partitioned by ``date``.

    Returns the files written (none for no rows), for one delta-rs commit.
    """
    spark = frame.sparkSession
    for key, value in TIMESTAMPS.items():
        spark.conf.set(key, value)
    folder = f"batch-{batch_id}-{uuid.uuid4().hex[:12]}"
    target = f"{table_path.rstrip('/')}/{folder}"
    writer = frame.write.mode("errorifexists")
    if DATE in frame.columns:
        writer = writer.partitionBy(DATE)
    writer.parquet(target)
    return list_files(table_path, folder)
