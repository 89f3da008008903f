"""The stream's Delta tables, each micro-batch committed exactly once through delta-rs.

Spark re-runs the last micro-batch after a crash with the same ``batch_id`` and
the same input (its offset log is written before the batch runs), and
``foreachBatch`` is at-least-once. A small batch's rows reach the driver as Arrow
(:mod:`pipeline.stream.arrow`); a large batch's big tables are Parquet files
Spark's tasks wrote into the table's folder (:mod:`pipeline.stream.files`).
Either way each table gets them in **one delta-rs commit that carries the
batch's app transaction** (Delta's ``txn`` action:
app id = the streaming query's id, version = the batch id). Before writing,
the table's transaction version for the app is read from its log: when it is
already at the batch, the first attempt committed this table and the replay
skips it. A write cut short leaves data files that no commit names: readers
never see them, ``VACUUM`` removes them.

Why delta-rs and not Spark's Delta writer (docs/benchmarks.md measures both):
delta-spark 4.4 rebuilds a table's whole state as a Spark job to answer "which
transaction version is this app at?" on every idempotent write, about 1.4 s a
table on two cores, whatever the batch holds; delta-rs reads the same answer
from the log in milliseconds and commits in ~10 ms.

* the app id is the query id, kept in the checkpoint: stable across restarts,
  new for a new checkpoint (whose batch ids start at 0 again);
* a table is created empty before the first batch, partitioned by ``date``,
  every column nullable, with the reader/writer protocol 1/2 that both
  delta-rs and Spark read and write (no deletion vectors, no column mapping),
  log and removed-file retention ``compact.retain_hours``;
* a batch with no row for a table commits nothing to it (the replay, being
  deterministic, has no row for it either), so a table's versions are the
  batches that changed it, which ``velib history`` lists with their note.

Paths are local folders or URIs delta-rs opens (``s3://``, ``az://``, ``gs://``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

from pipeline.delta.read import DATE, commit_note
from pipeline.stream.files import DataFile

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)


def join_path(root: str, *names: str) -> str:
    """``root/name/...`` for local paths and URIs alike (no pathlib: s3:// must survive)."""
    return "/".join([root.rstrip("/"), *names])


def retention(hours: float) -> str:
    """Hours as a Delta interval property value."""
    return f"interval {round(hours * 60)} minutes"


def loose(schema: pa.Schema) -> pa.Schema:
    """The schema with every field nullable (nested ones too), as the tables declare them.

    A null is a value, never a failed batch; and Spark's Arrow marks fields it
    knows are never null as non-nullable, which must meet the table's looser type.
    """

    def field(f: pa.Field) -> pa.Field:
        kind = f.type
        if pa.types.is_struct(kind):
            kind = pa.struct([field(c) for c in kind])
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            kind = pa.list_(field(kind.value_field))
        return pa.field(f.name, kind, nullable=True)

    return pa.schema([field(f) for f in schema])


def create_table(path: str, schema: pa.Schema, partition: str, retain_hours: float) -> None:
    """Create an empty Delta table at ``path`` unless one is there (then leave it as it is)."""
    from deltalake import DeltaTable

    if DeltaTable.is_deltatable(path):
        return
    DeltaTable.create(
        path,
        loose(schema),
        partition_by=[partition] if partition in schema.names else None,
        mode="ignore",
        configuration={
            "delta.enableDeletionVectors": "false",
            "delta.logRetentionDuration": retention(retain_hours),
            "delta.deletedFileRetentionDuration": retention(retain_hours),
        },
    )


# a batch's rows for one table: in memory, or the files Spark wrote
Rows: TypeAlias = pa.Table | list[DataFile]


def _holds(table: DeltaTable, app: str, batch_id: int) -> bool:
    """True when the table's log has the app's transaction at ``batch_id`` or later."""
    done = table.transaction_version(app)
    return done is not None and done >= batch_id


def _add(file: DataFile, partition_by: list[str] | None) -> Any:
    """The Delta add action of a file Spark wrote into the table."""
    from deltalake.transaction import AddAction

    values = {DATE: file.partition} if partition_by else {}
    return AddAction(file.path, file.size, values, file.modified_ms, True, file.stats())


@dataclass(frozen=True)
class Commit:
    """What one table got from one batch: its rows, and whether this attempt committed them."""

    table: str
    rows: int
    written: bool  # False: no row, or the batch's first attempt had committed this table
    seconds: float = 0.0


class DeltaTables:
    """The output tables under ``root``, by name with their Arrow schemas.

    Args:
        root: the tables' root folder or URI.
        schemas: every table's schema (``date`` is the partition column).
        retain_hours: log and removed-file retention of new tables.
    """

    def __init__(self, root: str, schemas: Mapping[str, pa.Schema], retain_hours: float) -> None:
        self.root = root
        self.schemas = {name: loose(schema) for name, schema in schemas.items()}
        self.retain_hours = retain_hours
        self._open: dict[str, DeltaTable] = {}

    def path(self, name: str) -> str:
        """Where a table lives."""
        return join_path(self.root, name)

    def ensure(self) -> None:
        """Create every table (empty) that does not exist yet."""
        for name, schema in self.schemas.items():
            create_table(self.path(name), schema, DATE, self.retain_hours)

    def _table(self, name: str) -> DeltaTable:
        from deltalake import DeltaTable

        table = self._open.get(name)
        if table is None:
            table = self._open[name] = DeltaTable(self.path(name))
        else:
            table.update_incremental()
        return table

    def has(self, name: str, app: str, batch_id: int) -> bool:
        """True when the table already holds the app's batch (an earlier attempt committed it)."""
        return _holds(self._table(name), app, batch_id)

    def commit(self, name: str, rows: Rows, app: str, batch_id: int) -> Commit:
        """Append a batch's rows to a table in one commit, unless that batch is in it already.

        ``rows`` are Arrow rows (written and committed here) or the Parquet files
        Spark wrote into the table's folder (only their add actions are committed).
        """
        from deltalake.transaction import CommitProperties, Transaction

        started = time.monotonic()
        count = rows.num_rows if isinstance(rows, pa.Table) else sum(f.rows for f in rows)
        table = self._table(name)
        if count == 0 or _holds(table, app, batch_id):
            return Commit(name, count, False, time.monotonic() - started)
        schema = self.schemas[name]
        partition_by = [DATE] if DATE in schema.names else None
        properties = CommitProperties(
            app_transactions=[Transaction(app, batch_id)],
            custom_metadata={"userMetadata": commit_note(app, batch_id)},
        )
        if isinstance(rows, pa.Table):
            from deltalake import write_deltalake

            write_deltalake(
                table,
                rows.select(schema.names).cast(schema),
                mode="append",
                partition_by=partition_by,
                commit_properties=properties,
            )
        else:
            table.create_write_transaction(
                [_add(f, partition_by) for f in rows],
                mode="append",
                schema=schema,
                partition_by=partition_by,
                commit_properties=properties,
            )
        return Commit(name, count, True, time.monotonic() - started)

    def commit_all(self, batch: Mapping[str, Rows], app: str, batch_id: int) -> list[Commit]:
        """:meth:`commit` every table of a batch at once (independent commits, one thread each)."""
        with ThreadPoolExecutor(max_workers=max(1, len(batch))) as pool:
            futures = [pool.submit(self.commit, n, r, app, batch_id) for n, r in batch.items()]
        return [future.result() for future in futures]
