"""Readers, period summaries and byte-stable writers of the research layer (notebooks, compare).

The notebooks read what the stream stage computed, never recompute it: the
``indicators_station/``, ``indicators_area/`` and ``alerts/`` tables (columns
and definitions in :mod:`pipeline.vocabulary`) through :func:`read_table`,
and the record-level ``status/`` and ``_rejected/`` tables only to measure
data quality. Every time they hand back is UTC-aware (Spark's INT96
timestamps read back naive, as UTC); Europe/Paris is applied for display only.

Names and definitions of the conditions (empty, full, out of service) and of
occupancy come from :mod:`pipeline.vocabulary`, as in the stream stage.

Summaries over a whole period weigh each window by the time it was known,
the way the stream weighs states within a window, so a station (or an area)
known for one window weighs one window, not one row.

Writers give identical bytes on every run: PNG without software/date
metadata, JSON with sorted keys and rounded floats, CSV with rounded floats.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import poll, vocabulary
from pipeline.delta.read import AsOf, is_delta, read_arrow
from pipeline.record import FIELD_NAMES, FIELDS, StationRecord
from pipeline.settings import project

STATUS_COLUMNS: tuple[str, ...] = (*FIELD_NAMES, "date")
# The condition flags of with_flags: every vocabulary condition but "normal" (the rest).
FLAGS: tuple[str, ...] = tuple(c for c in vocabulary.CONDITIONS if c != "normal")
OCCUPANCY = "occupancy"
_PANDAS = {
    "str": "string",
    "int": "Int64",
    "long": "Int64",
    "float": "float64",
    "double": "float64",
    "bool": "boolean",
}
# ``_rejected/`` as the stream writes it (pipeline.stream.parse.REJECTED_COLUMNS, which
# imports Spark; a unit test keeps the two equal).
REJECTED: dict[str, str] = {
    "value": "str",
    "key": "str",
    "topic": "str",
    "partition": "int",
    "offset": "long",
    "timestamp": "timestamp",
    "reason": "str",
    "date": "date",
}
# The order rows come back in, so figures and files never depend on the files' order.
_ORDER: dict[str, tuple[str, ...]] = {
    "indicators_station": ("window_start", "station_code"),
    "indicators_area": ("window_start", "area_level", "area"),
    "alerts": ("at", "station_code", "alert"),
    "status": ("observed_at", "station_code"),
    "polls": ("observed_at", "source"),
    "_rejected": ("partition", "offset"),
}


# --- reading the stream's tables ---------------------------------------------------


def utc(times: pd.Series) -> pd.Series:
    """Timestamps as UTC-aware nanoseconds, whatever the file stores.

    Naive ones are UTC (Spark writes UTC instants); the export stores UTC
    microseconds; one unit here keeps every computation on them the same.
    """
    col = pd.to_datetime(times)
    col = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
    return col.dt.as_unit("ns")


def read_table(processed: Path, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One table of a processed root as a frame: typed, UTC-aware, in a stable row order.

    Args:
        processed: the stream stage's export (Parquet), or a root of the stream's own
            Delta tables (``data/live/processed``, ``velib stream --out``), read with
            ``deltalake``: no JVM.
        name: ``indicators_station``, ``indicators_area``, ``alerts``, ``polls``,
            ``status`` or ``_rejected`` (``polls``' code lists come back as arrays).
        columns: read only these (faster on the station table).

    Returns:
        The rows; an empty frame with the vocabulary's columns when the table
        has no file (``_rejected/`` of a clean run, for instance).
    """
    folder = Path(processed) / name
    kinds: dict[str, str] = {c.name: c.kind for c in vocabulary.TABLES.get(name, ())}
    if name == "status":
        kinds = {**{f.name: f.kind for f in FIELDS}, "date": "date"}
    elif name == "polls":
        kinds = {**{f.name: f.kind for f in poll.FIELDS}, "date": "date"}
    elif name == "_rejected":
        kinds = dict(REJECTED)
    wanted = list(columns) if columns else list(kinds)
    table = read_arrow(folder, wanted)
    if table is not None:
        df = table.to_pandas()
    else:
        df = pd.DataFrame({c: pd.Series(dtype="object") for c in wanted})
    for col in df.columns:
        kind = kinds.get(col)
        if kind == "timestamp":
            df[col] = utc(df[col])
        elif kind == "date":
            df[col] = df[col].astype("string")
        elif kind in _PANDAS:
            df[col] = df[col].astype(_PANDAS[kind])
    order = [c for c in _ORDER.get(name, ()) if c in df.columns]
    if order:
        df = df.sort_values(order, kind="stable", ignore_index=True)
    return df


def window_seconds(rows: pd.DataFrame) -> float:
    """The tumbling window's length in seconds, read off the rows (900 for 15 minutes)."""
    lengths = (rows["window_end"] - rows["window_start"]).dt.total_seconds()
    return float(lengths.iloc[0]) if len(lengths) else float("nan")


def data_span(rows: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First window start and last window end of an indicators table (UTC)."""
    return rows["window_start"].min(), rows["window_end"].max()


# --- summaries over a period ----------------------------------------------------------


def weighted_mean(values: pd.Series, weights: pd.Series, by: pd.Series) -> pd.Series:
    """Per group of ``by``: the mean of ``values`` weighted by ``weights``.

    Rows with a missing value or no weight do not count; a group with none left is NaN.
    """
    values = values.astype("float64")
    weights = weights.astype("float64")
    ok = values.notna() & weights.notna() & (weights > 0)
    num = (values * weights).where(ok).groupby(by, sort=True).sum(min_count=1)
    den = weights.where(ok).groupby(by, sort=True).sum(min_count=1)
    return num / den


def station_summary(station_rows: pd.DataFrame) -> pd.DataFrame:
    """Each station over the whole period, from its ``indicators_station`` rows.

    Shares and counts are weighted by ``seconds_known``, occupancy by
    ``occupancy_seconds`` (its own weight: it is undefined while bikes + docks
    is 0), exactly as the stream weighs states inside a window.

    Returns:
        One row per ``station_code``: ``hours_known``, ``windows``, ``n_changes``,
        ``polls_seen`` (when the rows have it: the polls that listed the station),
        ``bikes_mean``, ``occupancy_mean``, ``empty_share``, ``full_share``,
        ``out_of_service_share`` and the station's last ``name``, ``commune``,
        ``arrondissement``.
    """
    rows = station_rows.sort_values(["station_code", "window_start"], kind="stable")
    groups = rows.groupby("station_code", sort=True)
    known = rows["seconds_known"]
    out = pd.DataFrame(
        {
            "hours_known": groups["seconds_known"].sum() / 3600,
            "windows": groups.size(),
            "n_changes": groups["n_changes"].sum(),
        }
    )
    if "polls_seen" in rows:
        out["polls_seen"] = groups["polls_seen"].sum().astype("int64")
    for column, weight in (
        ("bikes_mean", known),
        ("occupancy_mean", rows["occupancy_seconds"]),
        ("empty_share", known),
        ("full_share", known),
        ("out_of_service_share", known),
    ):
        out[column] = weighted_mean(rows[column], weight, rows["station_code"])
    out[["name", "commune", "arrondissement"]] = groups[
        ["name", "commune", "arrondissement"]
    ].last()
    return out


def area_summary(area_rows: pd.DataFrame, level: str) -> pd.DataFrame:
    """Each area of one level over the whole period, from its ``indicators_area`` rows.

    Every window weighs its known station-time (``stations_known_mean`` x the
    window's length): the shares are then exactly shares of the area's known
    station-time over the period; occupancy weighs its own station-time
    (``occupancy_seconds``: bikes + docks > 0).

    Returns:
        One row per ``area``: ``station_hours`` and the weighted ``bikes_mean``,
        ``occupancy_mean``, ``empty_share``, ``full_share``, ``out_of_service_share``.
    """
    rows = area_rows[area_rows["area_level"] == level]
    weight = rows["stations_known_mean"].astype("float64") * window_seconds(rows) / 3600
    columns = ["bikes_mean", "empty_share", "full_share", "out_of_service_share"]
    out = pd.DataFrame({"station_hours": weight.groupby(rows["area"], sort=True).sum()})
    for column in columns:
        out[column] = weighted_mean(rows[column], weight, rows["area"])
    occupancy_weight = rows["occupancy_seconds"].astype("float64")
    out["occupancy_mean"] = weighted_mean(rows["occupancy_mean"], occupancy_weight, rows["area"])
    return out


def stations_per_area(station_rows: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Stations seen at least once in the period, per (area_level, area) of indicators_area.

    The denominator of coverage: how many of an area's stations a window knows.
    """
    places = station_rows.groupby("station_code")[["commune", "arrondissement"]].last()
    counts: dict[tuple[str, str], int] = {("network", vocabulary.NETWORK_AREA): int(len(places))}
    for commune, n in places["commune"].value_counts(sort=False).items():
        counts[("commune", str(commune))] = int(n)
    for arr, n in places["arrondissement"].dropna().value_counts(sort=False).items():
        counts[("arrondissement", str(int(arr)))] = int(n)
    return counts


# --- the status frame (record level: data quality and compare) -------------------------


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Give every record column its dtype; timestamps UTC-aware (Spark's INT96 reads naive)."""
    for f in FIELDS:
        if f.name not in df:
            df[f.name] = None
        if f.kind == "timestamp":
            df[f.name] = utc(df[f.name])
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


def status_folder(path: Path) -> Path:
    """The ``status/`` table of a processed root, or ``path`` itself (a status folder)."""
    path = Path(path)
    return path / "status" if (path / "status").is_dir() else path


def read_status(path: Path, as_of: AsOf | None = None) -> pd.DataFrame:
    """The ``status/`` table of a processed root (or the folder itself); Delta: ``as_of``."""
    table = read_arrow(status_folder(path), as_of=as_of)
    df = pd.DataFrame(columns=list(FIELD_NAMES)) if table is None else table.to_pandas()
    df = df.drop(columns=["date"], errors="ignore")
    return _typed(df).sort_values(["observed_at", "station_code"], ignore_index=True)


def is_processed(path: Path) -> bool:
    """True when ``path`` is a root with ``status/`` or a status folder (Parquet or Delta)."""
    path = Path(path)
    return (path / "status").is_dir() or is_delta(path) or any(path.glob("date=*/*.parquet"))


def with_flags(df: pd.DataFrame) -> pd.DataFrame:
    """Add occupancy and one 0/1 column per condition, named and defined by the vocabulary.

    The conditions are :data:`pipeline.vocabulary.CONDITIONS` but ``normal``
    (the rest), tested by the vocabulary's own ``is_*`` functions, so the
    notebooks, ``velib compare`` and the stream cannot disagree on what
    "empty" means. Flags are floats so that a mean of them is a share.

    For record-level comparisons (``velib compare``); the notebooks read the
    stream's time-weighted indicators instead.
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
    """Plain Python values, floats rounded (NaN -> None) all the way down.

    Metrics files then compare equal across runs, and printed metrics read
    ``0.35``, not ``np.float64(0.35)``.
    """
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


def metrics_text(data: dict[str, Any], digits: int = 4) -> str:
    """Metrics as ``key: value`` lines with plain numbers, for a notebook's output."""
    plain = rounded(data, digits)
    return "\n".join(f"{key}: {plain[key]}" for key in sorted(plain))


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

    The figure is labelled with the file's stem, so a test can find it among
    the open figures. Notebooks pass ``close=False`` so it still shows inline.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.set_label(path.stem)
    fig.savefig(path, dpi=dpi, format="png", metadata={"Software": None})
    if close:
        plt.close(fig)
    return path


def project_root() -> Path:
    """The project a notebook works in (see ``project.project_root``)."""
    return project.project_root()
