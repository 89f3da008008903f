"""Reading the two sides of ``velib compare``: paths, git revisions, date ranges.

A *snapshot set* is whatever holds station records: recorded raw files
(``read_recorded``: GBFS folders, open-data history), the ``status/`` table of
the stream stage (its Parquet export, or the stream's own Delta table at any
version or time), or either of those at a git revision (through ``dvc.api``).
Every side becomes the same status frame
(:func:`pipeline.research.tables.status_frame`), so nothing downstream depends on
where the data came from.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from pipeline.clock import paris_date, paris_dates
from pipeline.delta.read import AsOf
from pipeline.record import StationRecord, format_timestamp
from pipeline.research.tables import is_processed, read_status, status_frame
from pipeline.settings.declare import BadInput, MissingInput
from pipeline.sources.names import repair_text


@dataclass(frozen=True)
class Side:
    """One snapshot set to compare: a path, maybe at a git revision, maybe within dates."""

    path: str
    rev: str | None = None
    dates: tuple[date, date] | None = None
    as_of: AsOf | None = None  # a Delta table's version or time

    def label(self) -> str:
        """How the report names this side."""
        text = f"{self.rev}:{self.path}" if self.rev else self.path
        if self.as_of is not None:
            at = self.as_of
            text += f"@{format_timestamp(at) if isinstance(at, datetime) else at}"
        return f"{text} [{self.dates[0]}..{self.dates[1]}]" if self.dates else text


@dataclass(frozen=True)
class Loaded:
    """The records of one side, and how many raw records were rejected while reading."""

    side: Side
    frame: pd.DataFrame
    rejected: int


def parse_dates(text: str) -> tuple[date, date]:
    """``2022-05-12:2022-05-18`` (or one day) as an inclusive pair of Paris dates.

    Paris dates, because a day of bike use runs from midnight to midnight on
    the Paris clock: UTC dates would cut it at 01:00 or 02:00.
    """
    first, _, last = text.partition(":")
    try:
        lo, hi = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise BadInput(f"bad date range {text!r}: expected YYYY-MM-DD[:YYYY-MM-DD]") from None
    if hi < lo:
        raise BadInput(f"bad date range {text!r}: end before start")
    return lo, hi


def load_snapshot_set(
    path: Path, dates: tuple[date, date] | None = None, as_of: AsOf | None = None
) -> tuple[pd.DataFrame, int]:
    """Records of a raw folder/file or a processed root, optionally within Paris dates.

    A root of Delta tables (a live folder, ``velib stream --out``) is read as
    of a version or a time when ``as_of`` is given.

    Raw snapshots outside the dates are skipped before their records are
    kept, so a two-week history split in two weeks is read without holding
    the other week.

    Returns:
        The status frame and the number of records rejected while reading raw files.
    """
    from pipeline.sources.recorded import read_recorded

    path = Path(path)
    if not path.exists():
        raise MissingInput(f"no such file or folder: {path}")
    rejected = 0
    if is_processed(path):
        df = read_status(path, as_of)
    elif as_of is not None:
        raise BadInput(f"{path} holds no Delta tables: it has no version {as_of} to read")
    else:
        records: list[StationRecord] = []
        keep = (lambda t: dates[0] <= paris_date(t) <= dates[1]) if dates else None
        for snap in read_recorded(path, keep=keep):
            records.extend(snap.records)
            rejected += len(snap.rejects)
        df = status_frame(records)
    if dates:
        day = paris_dates(df["observed_at"])
        df = df[(day >= dates[0]) & (day <= dates[1])].reset_index(drop=True)
    # Repaired once, here: every output (stations.csv, report.md, figures) reads clean names.
    df["name"] = df["name"].map(repair_text)
    return df, rejected


def materialize(path: str, rev: str, repo: Path, workdir: Path) -> Path:
    """Copy ``path`` as it was at git revision ``rev`` (git or DVC tracked) into workdir."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo=str(repo), rev=rev)
    if not fs.exists(path):
        raise MissingInput(f"{path} does not exist at revision {rev}")
    dest = Path(workdir) / rev.replace("/", "_") / Path(path).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.get(path, str(dest), recursive=True)
    return dest


def load_sides(a: Side, b: Side, repo: Path) -> tuple[Loaded, Loaded]:
    """Both sides as status frames; a side at a revision is copied out and read.

    Raises:
        FileNotFoundError: a path does not exist (at its revision).
        ValueError: a side holds no station record (e.g. dates outside the data).
    """
    loaded = []
    with tempfile.TemporaryDirectory(prefix="velib-compare-") as tmp:
        for side in (a, b):
            path = materialize(side.path, side.rev, repo, Path(tmp)) if side.rev else side.path
            df, rejected = load_snapshot_set(Path(path), side.dates, side.as_of)
            if df.empty:
                raise BadInput(f"no station records in {side.label()}")
            loaded.append(Loaded(side, df, rejected))
    return loaded[0], loaded[1]
