"""The workload: the real two-week open-data history, replayed with shifted times.

The history is parsed once (``read_recorded``), pickled to a cache file that
every worker subprocess loads, and scaled by replaying it copy after copy, each
copy ``k`` moved ``k`` recorded spans later (``observed_at`` and
``last_reported``), so change detection, date partitions and windows see a
longer, still realistic time series.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from pipeline.record import StationRecord, to_json
from pipeline.sources.recorded import Snapshot, read_recorded

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parent.parent
_SHARED = _ROOT.parent / "shared" / "data" / "opendata-history"  # the full two weeks


def default_history() -> Path:
    """$VELIB_BENCH_HISTORY, else ../shared/data (full history), else the bundled sample."""
    env = os.getenv("VELIB_BENCH_HISTORY")
    if env:
        return Path(env)
    return _SHARED if _SHARED.is_dir() else _ROOT / "data" / "raw" / "opendata-history"


HISTORY = default_history()
GAP = timedelta(hours=1)  # between the end of one copy and the start of the next


def load_history(path: Path = HISTORY) -> tuple[list[Snapshot], dict[str, Any]]:
    """Parse the recorded history once; returns snapshots and facts about the parse."""
    started = time.perf_counter()
    snaps = list(read_recorded(path))
    seconds = time.perf_counter() - started
    records = sum(len(s.records) for s in snaps)
    facts = {
        "path": str(path),
        "files": len(snaps),
        "records": records,
        "rejects": sum(len(s.rejects) for s in snaps),
        "first": snaps[0].observed_at.isoformat(),
        "last": snaps[-1].observed_at.isoformat(),
        "parse_seconds": round(seconds, 3),
        "parse_records_per_s": round(records / seconds, 1),
    }
    return snaps, facts


def save(snaps: list[Snapshot], path: Path) -> None:
    """Cache the parsed history for the worker subprocesses."""
    with path.open("wb") as fh:
        pickle.dump(snaps, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load(path: Path) -> list[Snapshot]:
    """Load the cached parsed history (written by :func:`save`)."""
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - our own cache file


def span(base: list[Snapshot]) -> timedelta:
    """How far copy k+1 is moved after copy k."""
    return base[-1].observed_at - base[0].observed_at + GAP


def _shift(record: StationRecord, delta: timedelta) -> StationRecord:
    return record.replace(
        observed_at=record.observed_at + delta, last_reported=record.last_reported + delta
    )


def scaled(base: list[Snapshot], n_records: int) -> Iterator[Snapshot]:
    """Snapshots of the history replayed until exactly ``n_records`` records, lazily.

    Only the base history stays in memory; each shifted snapshot is built when
    asked for, so a consumer's own memory is what a profile of it shows.
    """
    step = span(base)
    left, k = n_records, 0
    while left > 0:
        delta = step * k
        for snap in base:
            if left <= 0:
                return
            records = snap.records[:left]
            left -= len(records)
            yield Snapshot(
                observed_at=snap.observed_at + delta,
                source=snap.source,
                origin=f"{snap.origin}#copy{k}",
                records=[_shift(r, delta) for r in records] if k else list(records),
                rejects=list(snap.rejects),
                oddities=dict(snap.oddities),
                unmapped_ids=snap.unmapped_ids,
            )
        k += 1


def materialize(base: list[Snapshot], n_records: int) -> list[Snapshot]:
    """The scaled workload in memory (throughput runs: no building inside the timing)."""
    return list(scaled(base, n_records))


def messages(records: list[StationRecord]) -> list[tuple[str, bytes]]:
    """(key, value) exactly as ingest produces them: station code, compact JSON."""
    return [(r.station_code, to_json(r)) for r in records]
