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
all. Travel by version when it matters. Only a version that holds rows is read
(:func:`resolve`): the stream's version 0 is the empty table its ``CREATE TABLE``
committed, and asking for it, for a version past the newest or for a time
before the first write is one line naming the versions that exist (:class:`Span`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
        ValueError: no version with rows at ``as_of`` (one line naming those that exist).
    """
    from deltalake import DeltaTable

    if as_of is None:
        return DeltaTable(str(folder))
    return DeltaTable(str(folder), version=resolve(folder, as_of))


@dataclass(frozen=True)
class Span:
    """The versions of a table that hold rows: ``first`` to ``last``, with their commit times.

    A table the stream creates starts with an empty version (v0, its ``CREATE
    TABLE``); the first version with rows is its first write.
    """

    first: int
    last: int
    first_at: datetime
    last_at: datetime
    empty_before: bool  # an older version is still in the log and holds no rows (v0)

    def text(self) -> str:
        """``versions 1 (2026-12-07T10:00:01.123Z) to 42 (...Z) hold rows; v0 is the empty ...``."""
        if self.first == self.last:
            held = f"only version {self.first} ({_utc(self.first_at)}) holds rows"
        else:
            held = (
                f"versions {self.first} ({_utc(self.first_at)}) to {self.last} "
                f"({_utc(self.last_at)}) hold rows"
            )
        if self.empty_before and self.first == 1:
            held += "; v0 is the empty table its creation committed, before any write"
        elif self.empty_before:
            held += f"; v0 to v{self.first - 1} hold no rows (before the first write)"
        return held


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _commit_time(commit: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC)


def span(folder: str | Path) -> Span | None:
    """The versions of the Delta table at ``folder`` that hold rows; None when none does.

    Reads the whole log's commit list (``history``) and opens versions from the
    oldest kept one until one holds a file: usually two (v0, the creation, and
    v1, the first write). A version whose log a clean-up removed cannot be opened
    and is skipped.
    """
    from deltalake import DeltaTable

    table = DeltaTable(str(folder))
    commits = sorted(table.history(), key=lambda c: int(c["version"]))
    times = {int(c["version"]): _commit_time(c) for c in commits}
    empty = False
    for version in times:
        try:
            files = DeltaTable(str(folder), version=version).file_uris()
        except Exception:  # noqa: BLE001 - a version whose log entries were cleaned up
            continue
        if files:
            last = table.version()
            return Span(version, last, times[version], times.get(last, times[version]), empty)
        empty = True
    return None


def resolve(folder: str | Path, as_of: AsOf) -> int:
    """The version ``as_of`` names: itself (a version), or the last before a time.

    Only a version with rows is a version to read: before the first write (v0
    is the empty ``CREATE TABLE``), past the newest, or a time before the first
    write, is one line that names the versions that exist, not the Delta
    kernel's own error.

    Raises:
        BadInput: no version with rows at ``as_of``.
    """
    from deltalake import DeltaTable

    shown = _utc(as_of) if isinstance(as_of, datetime) else f"version {as_of}"

    def refuse() -> BadInput:
        found = span(folder)
        held = found.text() if found is not None else "no version holds rows yet"
        return BadInput(f"{folder}: no {shown} to read: {held}")

    try:
        if isinstance(as_of, int):
            table = DeltaTable(str(folder), version=as_of)
        else:
            table = DeltaTable(str(folder))
            table.load_as_version(as_of)
    except Exception:  # noqa: BLE001 - deltalake's kernel errors: say what exists instead
        raise refuse() from None
    if isinstance(as_of, datetime):  # deltalake falls back to the oldest version before it
        entry = Path(folder) / DELTA_LOG / f"{table.version():020d}.json"
        if entry.exists() and entry.stat().st_mtime > as_of.timestamp():
            raise refuse()
    if not table.file_uris():
        raise refuse()
    return int(table.version())


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
