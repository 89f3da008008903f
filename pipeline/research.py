"""Shared readers and deterministic writers of the research layer (notebooks, compare).

The notebooks and ``velib compare`` read station records as one pandas frame,
the ``status/`` table of the stream stage (``record.FIELD_NAMES`` + ``date``),
whichever way it was produced, and write figures and metrics so that two runs
give identical bytes: PNG without software/date metadata, JSON with sorted
keys and rounded floats, CSV with rounded floats.

Names and definitions of the conditions (empty, full, out of service) and of
occupancy come from :mod:`pipeline.vocabulary`, as in the stream stage.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import vocabulary
from pipeline.record import FIELD_NAMES, FIELDS, StationRecord

STATUS_COLUMNS: tuple[str, ...] = (*FIELD_NAMES, "date")
PARIS_TZ = "Europe/Paris"
# The condition flags of with_flags: every vocabulary condition but "normal" (the rest).
FLAGS: tuple[str, ...] = tuple(c for c in vocabulary.CONDITIONS if c != "normal")
OCCUPANCY = "occupancy"
_PANDAS = {"str": "string", "int": "Int64", "long": "Int64", "float": "float64", "bool": "boolean"}


# --- the status frame --------------------------------------------------------------


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Give every record column its dtype; timestamps UTC-aware (Spark's INT96 reads naive)."""
    for f in FIELDS:
        if f.name not in df:
            df[f.name] = None
        if f.kind == "timestamp":
            col = pd.to_datetime(df[f.name])
            df[f.name] = (
                col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
            )
        else:
            df[f.name] = df[f.name].astype(_PANDAS[f.kind])
    df["date"] = df["observed_at"].dt.strftime("%Y-%m-%d").astype("string")
    return df[list(STATUS_COLUMNS)]


def status_frame(records: Iterable[StationRecord]) -> pd.DataFrame:
    """Records as the ``status/`` table: FIELD_NAMES + ``date`` (UTC date of observed_at)."""
    return _typed(pd.DataFrame([r.to_dict() for r in records], columns=list(FIELD_NAMES)))


def write_status_parquet(df: pd.DataFrame, processed: Path) -> Path:
    """Write a status frame as ``processed/status/date=.../`` (the stream stage's layout)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(processed) / "status"
    if target.exists():
        shutil.rmtree(target)
    table = pa.Table.from_pandas(
        df.sort_values(["observed_at", "station_code"]), preserve_index=False
    )
    pq.write_to_dataset(table, target, partition_cols=["date"])
    return target


def read_status(path: Path) -> pd.DataFrame:
    """The ``status/`` table of a processed root (or the status folder itself) as a frame."""
    import pyarrow.dataset as ds

    path = Path(path)
    folder = path / "status" if (path / "status").is_dir() else path
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    df = table.to_pandas()
    df = df.drop(columns=["date"], errors="ignore")
    return _typed(df).sort_values(["observed_at", "station_code"], ignore_index=True)


def is_processed(path: Path) -> bool:
    """True when ``path`` is a Parquet root with ``status/`` or a status folder."""
    path = Path(path)
    return (path / "status").is_dir() or any(path.glob("date=*/*.parquet"))


def with_flags(df: pd.DataFrame) -> pd.DataFrame:
    """Add occupancy and one 0/1 column per condition, named and defined by the vocabulary.

    The conditions are :data:`pipeline.vocabulary.CONDITIONS` but ``normal``
    (the rest), tested by the vocabulary's own ``is_*`` functions, so the
    notebooks, ``velib compare`` and the stream cannot disagree on what
    "empty" means. Flags are floats so that a mean of them is a share.
    """
    out = df.copy()
    bikes = out["bikes_available"].astype("float64")
    docks = out["docks_available"].astype("float64")
    total = bikes + docks
    out[OCCUPANCY] = (bikes / total).where(total > 0)
    installed, renting, returning = (
        out[c].fillna(False).astype(bool) for c in ("is_installed", "is_renting", "is_returning")
    )
    tests = {
        "out_of_service": vocabulary.is_out_of_service(installed, renting, returning),
        "empty": vocabulary.is_empty(bikes),
        "full": vocabulary.is_full(docks),
    }
    for condition in FLAGS:  # a new vocabulary condition without a test here is a KeyError
        out[condition] = tests[condition].astype("float64")
    return out


# --- deterministic writers -----------------------------------------------------------


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded (NaN -> None) all the way down, so metrics files compare equal."""
    if isinstance(value, dict):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, digits)
    if value is pd.NA:
        return None
    return value


def write_json(data: dict[str, Any], path: Path, digits: int = 4) -> Path:
    """Metrics as JSON: sorted keys, rounded floats, trailing newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rounded(data, digits), indent=2, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_csv(df: pd.DataFrame, path: Path, digits: int = 4) -> Path:
    """A table as CSV with rounded floats (plot data and report tables)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.round(digits).to_csv(path, index=False, lineterminator="\n")
    return path


def save_figure(fig: Any, path: Path, dpi: int = 100, close: bool = True) -> Path:
    """Save a matplotlib figure as PNG with no software/date metadata (same bytes each run).

    Notebooks pass ``close=False`` so the figure still shows inline.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", metadata={"Software": None})
    if close:
        plt.close(fig)
    return path


def project_root(start: Path | None = None) -> Path:
    """The nearest folder holding dvc.yaml, from ``start`` (default: cwd) upwards."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def state_grid(df: pd.DataFrame, freq: str = "30min", max_age: str = "2h") -> pd.DataFrame:
    """Each station's last known state at regular times (long form, one row per slot x station).

    The stream stage keeps only changes (plus heartbeats), so "how many bikes at
    10:00" needs the last record of every station at or before 10:00; states
    older than ``max_age`` are dropped (the station is unknown there).
    """
    cols = ["bikes_available", "mechanical_available", "ebike_available", "docks_available"]
    cols += [OCCUPANCY, *FLAGS]
    flagged = with_flags(df).sort_values("observed_at")
    flagged["slot"] = flagged["observed_at"].dt.ceil(freq)
    last = flagged.groupby(["slot", "station_code"], sort=True)[cols].last()
    slots = pd.date_range(last.index.levels[0].min(), last.index.levels[0].max(), freq=freq)
    limit = max(int(pd.Timedelta(max_age) / pd.Timedelta(freq)), 0)
    wide = last.astype("float64").unstack("station_code").reindex(slots).ffill(limit=limit)
    long = wide.stack("station_code", future_stack=True).dropna(subset=["bikes_available"])
    long.index.names = ["slot", "station_code"]
    return long.reset_index()


def local_naive(times: pd.Series) -> pd.Series:
    """UTC timestamps as naive Europe/Paris wall-clock times, for plot axes only."""
    return times.dt.tz_convert(PARIS_TZ).dt.tz_localize(None)
