"""Compaction and retention of the stream's Delta tables, without a JVM (``velib compact``).

A live run appends one small file per table and date about every minute:
tens of thousands of files a month, which every reader lists. Here, per table:

* **compact**: every ``date`` partition but the newest one (still being
  written) that holds more than one file is rewritten as one file
  (``OPTIMIZE``; deltalake's ``optimize.compact``). A day's rows do not
  change, only their files, so readers, time travel and the export see the
  same rows. Appends of the running stream do not conflict with it (they add
  files, it rewrites others); a conflict is reported, and retried next time;
* **vacuum**: files removed from the table (by compaction, by the state
  tables' rewrites) or left by a killed write are deleted once older than the
  retention; so are log entries (Delta's log retention, set on each table at
  creation to the same value). Time travel reaches back as far as the retention.

Tables partitioned by ``batch_id`` are the stream's state: rewritten every
micro-batch and read only by the stream, they are vacuumed with their own,
short retention and never compacted.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipeline.delta.read import BATCH, DATE, tables_under
from pipeline.settings.declare import MissingInput
from pipeline.settings.tables import CompactSettings

log = logging.getLogger(__name__)


@dataclass
class Tidied:
    """What compaction and vacuum did to one table."""

    table: Path
    files_before: int = 0
    files_after: int = 0
    compacted: tuple[str, ...] = ()  # the dates rewritten
    removed: int = 0  # files deleted by the vacuum
    error: str | None = None


@dataclass
class CompactSummary:
    """Every table's outcome, and the totals for one line."""

    root: str
    tables: list[Tidied] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Tidied]:
        """The tables that could not be tidied (reported, retried next time)."""
        return [t for t in self.tables if t.error]

    def line(self) -> str:
        """One line for the command line and the live log."""
        before = sum(t.files_before for t in self.tables)
        after = sum(t.files_after for t in self.tables)
        dates = sum(len(t.compacted) for t in self.tables)
        removed = sum(t.removed for t in self.tables)
        text = (
            f"tables={len(self.tables)} files={before}->{after} partitions_compacted={dates} "
            f"files_vacuumed={removed} in {self.seconds:.1f} s"
        )
        for t in self.errors:
            text += f"; {t.table.name}: {t.error}"
        return text


def partitions_to_compact(files: pa.Table) -> list[str]:
    """The dates with more than one file, but the newest date (still being written)."""
    column = f"partition.{DATE}"
    if column not in files.column_names:
        return []
    counts = Counter(d for d in files[column].to_pylist() if d is not None)
    if not counts:
        return []
    newest = max(counts)
    return [str(d) for d in sorted(counts) if d < newest and counts[d] > 1]


def tidy(folder: Path, retain_hours: float, compact: bool = True) -> Tidied:
    """Compact one table's old date partitions (when ``compact``), then vacuum it."""
    from deltalake import DeltaTable

    done = Tidied(folder)
    table = DeltaTable(str(folder))
    done.files_before = len(table.file_uris())
    dates = partitions_to_compact(pa.table(table.get_add_actions(flatten=True)))
    for day in dates if compact else []:
        table.optimize.compact(partition_filters=[(DATE, "=", day)])
        done.compacted += (day,)
    # full: also files no commit refers to (a killed write's), by age; never younger than
    # an hour (settings), so a batch still being written keeps its files
    removed = table.vacuum(
        retention_hours=math.ceil(retain_hours),
        dry_run=False,
        enforce_retention_duration=False,
        full=True,
    )
    table.cleanup_metadata()  # log entries older than the table's log retention
    done.removed = len(removed)
    done.files_after = len(DeltaTable(str(folder)).file_uris())
    return done


def run(settings: CompactSettings) -> CompactSummary:
    """``velib compact``: every Delta table under ``settings.root``, one after the other.

    Raises:
        FileNotFoundError: the root does not exist.
    """
    from deltalake import DeltaTable

    root = Path(settings.root)
    if not root.exists():
        raise MissingInput(f"no such folder: {root}")
    started = time.monotonic()
    summary = CompactSummary(str(root))
    for folder in tables_under(root):
        state = BATCH in DeltaTable(str(folder)).metadata().partition_columns
        hours = settings.state_retain_hours if state else settings.retain_hours
        try:
            done = tidy(folder, hours, compact=not state)
        except Exception as exc:  # noqa: BLE001 - one table's conflict must not stop the rest
            done = Tidied(folder, error=" ".join(str(exc).split())[:200])
            log.warning("compact %s: %s", folder, done.error)
        else:
            log.info(
                "compact %s: %d -> %d files, %d dates compacted, %d files vacuumed",
                folder,
                done.files_before,
                done.files_after,
                len(done.compacted),
                done.removed,
            )
        summary.tables.append(done)
    summary.seconds = time.monotonic() - started
    return summary
