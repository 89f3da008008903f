"""Each Delta table's versions and what wrote them (``velib history``), without a JVM.

Every commit of the stream carries a note (Delta's ``userMetadata``, see
:func:`pipeline.delta.read.commit_note`) naming the streaming query and the
micro-batch that wrote it; compaction and vacuum commits are deltalake's own
operations. Times are shown in UTC with a ``Z``, so a line can be pasted into
``velib compare --a-as-of`` as it is (remember a time is approximate there:
:mod:`pipeline.delta.read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.delta.read import BATCH, read_note, tables_under
from pipeline.settings import project
from pipeline.settings.declare import MissingInput
from pipeline.settings.tables import HistorySettings


@dataclass(frozen=True)
class Version:
    """One commit of a table: its version, when, what operation, and which batch."""

    version: int
    at: datetime
    operation: str
    batch_id: int | None = None
    rows: int | None = None  # rows written (a write's numOutputRows)
    files_added: int | None = None
    files_removed: int | None = None

    @classmethod
    def from_commit(cls, commit: dict[str, Any]) -> Version:
        """From one ``DeltaTable.history()`` entry (Spark's or deltalake's commit info)."""
        metrics = commit.get("operationMetrics") or {}

        def number(*keys: str) -> int | None:
            found = [int(metrics[k]) for k in keys if metrics.get(k) not in (None, "")]
            return found[0] if found else None

        batch = read_note(commit.get("userMetadata")).get("batch_id")
        return cls(
            version=int(commit["version"]),
            at=datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC),
            operation=str(commit.get("operation") or "?"),
            batch_id=None if batch is None else int(batch),
            # Spark's metric names, then deltalake's (its writes, OPTIMIZE, VACUUM END)
            rows=number("numOutputRows", "num_added_rows"),
            files_added=number("numFiles", "numFilesAdded", "num_added_files"),
            files_removed=number(
                "numRemovedFiles", "numFilesRemoved", "num_removed_files", "numDeletedFiles"
            ),
        )

    def line(self) -> str:
        """``  v41  2026-11-28T10:15:02.123Z  WRITE  batch 40  +123 rows``."""
        when = self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        what = [f"batch {self.batch_id}"] if self.batch_id is not None else []
        if self.rows is not None:
            what.append(f"+{self.rows} rows")
        if self.files_removed:
            what.append(f"files -{self.files_removed} +{self.files_added or 0}")
        return f"  v{self.version:<5} {when}  {self.operation:<14} {'  '.join(what)}".rstrip()


def versions(folder: str | Path, last: int | None = None) -> list[Version]:
    """A table's newest ``last`` versions (all by default), newest first."""
    from deltalake import DeltaTable

    return [Version.from_commit(c) for c in DeltaTable(str(folder)).history(last)]


@dataclass
class HistorySummary:
    """The versions shown, per table (its path relative to the root)."""

    root: str
    tables: dict[str, list[Version]] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A heading per table, then one line per version."""
        out = []
        for name, found in self.tables.items():
            out.append(f"{name}: version {self.newest[name]}, {len(found)} newest shown")
            out.extend(v.line() for v in found)
        return out


def run(settings: HistorySettings) -> HistorySummary:
    """``velib history``: every Delta table under ``settings.root``, newest versions first.

    Without a root, every table under the project's places (``settings.places``:
    the live run's, the replay's and the stream's output roots), each named by
    its path from the project root.

    Raises:
        MissingInput: no Delta table there (one line: where it looked, what to pass).
    """
    from deltalake import DeltaTable

    if settings.root is not None:
        roots, base = [Path(settings.root)], Path(settings.root)
    else:
        roots, base = list(settings.places), project.ROOT
    summary = HistorySummary(str(base))
    found = [folder for root in roots if root.exists() for folder in tables_under(root)]
    for folder in found:
        table = DeltaTable(str(folder))
        if BATCH in table.metadata().partition_columns and not settings.state:
            continue
        name = folder.relative_to(base).as_posix() if folder != base else folder.name
        summary.tables[name] = [Version.from_commit(c) for c in table.history(settings.last)]
        summary.newest[name] = table.version()
    if not found and settings.root is not None:
        raise MissingInput(f"no Delta table in {settings.root}")
    if not found:
        looked = ", ".join(_shown(root) for root in roots)
        raise MissingInput(
            f"no Delta table in {looked}: pass a table or a folder of them "
            "(velib history PATH); velib run and velib run --live write them there"
        )
    return summary


def _shown(path: Path) -> str:
    """A place as the user would type it: from the project root when under it."""
    try:
        return path.relative_to(project.ROOT).as_posix()
    except ValueError:
        return str(path)
