"""One table folder as Arrow: a Delta table at any version, or a Parquet export.

The stream writes Delta tables; ``velib run`` exports them as plain Parquet
folders (``date=YYYY-MM-DD/part-0.parquet``). :func:`read_arrow` tells the
two apart by the ``_delta_log`` folder, so a reader never has to know which
one it was handed. A Delta folder is never read as Parquet files: it also
holds files that are not (or no longer) in the table (removed by a batch or by
compaction, left by a killed write), which only the log tells apart.

Time travel: a version number is exact. A time is approximate: deltalake picks
the version whose *log file's modification time* is the last before it, a few
milliseconds after the commit time ``history`` shows, and a copy that does not
keep modification times (``cp``, git, DVC, an object-store upload) moves them
all. Travel by version when it matters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.settings.declare import BadInput

DELTA_LOG = "_delta_log"
DATE = "date"  # the stream's tables are partitioned by the UTC date of their rows
BATCH = "batch_id"  # the state table, partitioned by the micro-batch that wrote it
AsOf = int | datetime  # a table version (exact) or a time (approximate); settings parse it


def is_delta(folder: str | Path) -> bool:
    """True when ``folder`` is a Delta table (it has a transaction log)."""
    return (Path(folder) / DELTA_LOG).is_dir()


def open_table(folder: str | Path, as_of: AsOf | None = None) -> Any:
    """The Delta table at ``folder``, at a version or a time (default: the newest).

    Raises:
        ValueError: no such version, or a time before the table existed.
    """
    from deltalake import DeltaTable

    try:
        if isinstance(as_of, int):
            return DeltaTable(str(folder), version=as_of)
        table = DeltaTable(str(folder))
        if as_of is not None:
            table.load_as_version(as_of)
    except Exception as exc:  # deltalake's errors are its own classes: say which table
        if as_of is None:
            raise
        raise BadInput(f"{folder}: cannot read it as of {as_of}: {exc}") from None
    if isinstance(as_of, datetime):  # deltalake falls back to version 0 before the first
        entry = Path(folder) / DELTA_LOG / f"{table.version():020d}.json"
        if entry.exists() and entry.stat().st_mtime > as_of.timestamp():
            raise BadInput(f"{folder}: cannot read it as of {as_of}: no version that old")
    return table


def read_arrow(
    folder: str | Path, columns: Sequence[str] | None = None, as_of: AsOf | None = None
) -> pa.Table | None:
    """A table folder's rows (only ``columns`` that exist, if given); None without any table.

    Args:
        folder: a Delta table, or a Parquet folder partitioned by ``date=``.
        columns: read only these (those the table lacks are left out).
        as_of: a version or a time (Delta tables only).
    """
    folder = Path(folder)
    if is_delta(folder):
        table = open_table(folder, as_of)
        names = [f.name for f in table.schema().fields]
        wanted = [c for c in columns if c in names] if columns else None
        return pa.table(table.to_pyarrow_table(columns=wanted))
    if as_of is not None:
        raise BadInput(f"{folder} is not a Delta table: it has no versions to read")
    if not (folder.is_dir() and any(folder.rglob("*.parquet"))):
        return None
    import pyarrow.dataset as ds

    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    wanted = [c for c in columns if c in dataset.schema.names] if columns else None
    return dataset.to_table(columns=wanted)


def arrow_dataset(folder: str | Path) -> Any:
    """A table folder's newest rows as a lazy ``pyarrow.dataset`` (filters pushed down); or None.

    For readers that keep only part of a table (a live forecaster reading the
    last two days): a Delta table's dataset holds only the files of its newest
    version, never those a compaction replaced or a killed write left.
    """
    folder = Path(folder)
    if is_delta(folder):
        return open_table(folder).to_pyarrow_dataset()
    if not (folder.is_dir() and any(folder.rglob("*.parquet"))):
        return None
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet", partitioning="hive")


def tables_under(root: str | Path) -> list[Path]:
    """Every Delta table at or below ``root`` (the state table under checkpoints too)."""
    root = Path(root)
    if is_delta(root):
        return [root]
    return sorted(log.parent for log in root.rglob(DELTA_LOG) if log.is_dir())


# --- what wrote a commit: the stream's note in each commit (Delta's userMetadata) ----------


def commit_note(query_id: str, batch_id: int) -> str:
    """The note the stream leaves in each commit: which query and micro-batch wrote it."""
    return json.dumps({"batch_id": batch_id, "query_id": query_id}, sort_keys=True)


def read_note(text: str | None) -> dict[str, Any]:
    """A commit's note as a dict (empty when the commit is not the stream's)."""
    try:
        note = json.loads(text) if text else {}
    except ValueError:
        return {}
    return note if isinstance(note, dict) else {}
