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
from pipeline.delta.read import AsOf, is_delta, open_table, resolve
from pipeline.record import StationRecord, format_timestamp
from pipeline.research.tables import is_processed, read_status, status_folder, status_frame
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
    """The records of one side, how many raw records were rejected, which version was read."""

    side: Side
    frame: pd.DataFrame
    rejected: int
    version: int | None = None  # the Delta status table's version read (None: not Delta)

    def label(self) -> str:
        """The side's label and the version its status table was read at, when Delta."""
        if self.version is None:
            return self.side.label()
        newest = " (its newest)" if self.side.as_of is None else ""
        return f"{self.side.label()}, status table version {self.version}{newest}"


def status_version(path: Path, as_of: AsOf | None = None) -> int | None:
    """The version of a processed root's Delta status table that ``as_of`` names.

    The newest without ``as_of``; None when ``path`` holds no Delta status table
    (recorded files, a Parquet export). A version or time with no rows (before
    the first write, past the newest) is one line naming the versions that do.
    """
    folder = status_folder(Path(path))
    if not is_delta(folder):
        return None
    if as_of is None:
        return int(open_table(folder).version())
    return resolve(folder, as_of)


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
            version = status_version(Path(path), side.as_of) if Path(path).exists() else None
            as_of = side.as_of if version is None else version  # exact from here on
            df, rejected = load_snapshot_set(Path(path), side.dates, as_of)
            found = Loaded(side, df, rejected, version)
            if df.empty:
                raise BadInput(f"no station records in {found.label()}")
            loaded.append(found)
    return loaded[0], loaded[1]
