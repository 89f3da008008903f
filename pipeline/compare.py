"""Compare two data snapshot sets: stations added, removed, renamed, moved, resized.

A *snapshot set* is whatever holds station records: recorded raw files
(``read_recorded``: GBFS folders, open-data history), the Parquet ``status/``
table of the stream stage, or either of those at a git revision (through
``dvc.api``). Both sides become the same frame (:mod:`pipeline.research`), so
the comparison never depends on where the data came from. Area values are
means over stations of each station's mean over its records, with the
definitions of :mod:`pipeline.indicators`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.record import StationRecord
from pipeline.research import (
    is_processed,
    project_root,
    read_status,
    save_figure,
    status_frame,
    with_flags,
    write_csv,
    write_json,
)

log = logging.getLogger(__name__)

INDICATORS = (
    "bikes_mean",
    "mechanical_mean",
    "ebike_mean",
    "docks_mean",
    "occupancy_mean",
    "empty_share",
    "full_share",
    "out_of_service_share",
)


# --- reading snapshot sets --------------------------------------------------------------


def load_snapshot_set(
    path: Path, dates: tuple[date, date] | None = None
) -> tuple[pd.DataFrame, int]:
    """Records of a raw folder/file or a processed root, optionally within UTC dates.

    Returns:
        The status frame and the number of records rejected while reading raw files.
    """
    from pipeline.sources import read_recorded

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    rejected = 0
    if is_processed(path):
        df = read_status(path)
    else:
        records: list[StationRecord] = []
        for snap in read_recorded(path):
            if dates and not dates[0] <= snap.observed_at.date() <= dates[1]:
                continue
            records.extend(snap.records)
            rejected += len(snap.rejects)
        df = status_frame(records)
    if dates:
        day = df["observed_at"].dt.date
        df = df[(day >= dates[0]) & (day <= dates[1])].reset_index(drop=True)
    return df, rejected


def parse_dates(text: str) -> tuple[date, date]:
    """``2022-05-12:2022-05-18`` (or one day) as an inclusive pair of UTC dates."""
    first, _, last = text.partition(":")
    try:
        lo, hi = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise ValueError(f"bad date range {text!r}: expected YYYY-MM-DD[:YYYY-MM-DD]") from None
    if hi < lo:
        raise ValueError(f"bad date range {text!r}: end before start")
    return lo, hi


def materialize(path: str, rev: str, repo: Path, workdir: Path) -> Path:
    """Copy ``path`` as it was at git revision ``rev`` (git or DVC tracked) into workdir."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo=str(repo), rev=rev)
    if not fs.exists(path):
        raise FileNotFoundError(f"{path} does not exist at revision {rev}")
    dest = Path(workdir) / rev.replace("/", "_") / Path(path).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.get(path, str(dest), recursive=True)
    return dest


# --- derived tables ----------------------------------------------------------------


def stations_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per station: its last known name, place and capacity, and its record count."""
    last = df.sort_values(["observed_at", "station_code"]).groupby("station_code").last()
    table = last[["name", "lat", "lon", "capacity", "commune", "arrondissement"]].copy()
    table["n_records"] = df.groupby("station_code").size()
    return table.sort_index()


def station_means(df: pd.DataFrame) -> pd.DataFrame:
    """Each station's mean counts, occupancy and shares over its records."""
    flagged = with_flags(df)
    numeric = {
        "bikes_mean": "bikes_available",
        "mechanical_mean": "mechanical_available",
        "ebike_mean": "ebike_available",
        "docks_mean": "docks_available",
        "occupancy_mean": "occupancy",
        "empty_share": "empty",
        "full_share": "full",
        "out_of_service_share": "out_of_service",
    }
    for src in numeric.values():
        flagged[src] = flagged[src].astype("float64")
    means = flagged.groupby("station_code")[list(numeric.values())].mean()
    means.columns = list(numeric)
    places = stations_table(df)[["commune", "arrondissement"]]
    return means.join(places)


def area_availability(df: pd.DataFrame) -> pd.DataFrame:
    """Indicators per commune and per Paris arrondissement, plus the whole network."""
    per_station = station_means(df)
    parts = []
    levels = (("network", None), ("commune", "commune"), ("arrondissement", "arrondissement"))
    for level, column in levels:
        frame = per_station.copy()
        if column is None:
            frame["area"] = "all"
        else:
            frame = frame[frame[column].notna()]
            frame["area"] = frame[column].astype("Int64" if level == "arrondissement" else "string")
            frame["area"] = frame["area"].astype(str)
        grouped = frame.groupby("area")
        agg = grouped[list(INDICATORS)].mean()
        agg.insert(0, "n_stations", grouped.size())
        agg.insert(0, "area_level", level)
        parts.append(agg.reset_index())
    return pd.concat(parts, ignore_index=True)


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (works on scalars and pandas Series)."""
    import numpy as np

    p1, p2 = np.radians(lat1.astype(float)), np.radians(lat2.astype(float))
    dp, dl = p2 - p1, np.radians(lon2.astype(float) - lon1.astype(float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


def repair_text(text: Any) -> Any:
    """Undo UTF-8 read as cp1252, once or twice over (the 2024 GBFS names: 'RÃƒÂ©collets').

    Without it, 500 stations of the 2024 snapshot look renamed when only their
    encoding differs.
    """
    if not isinstance(text, str) or not ("Ã" in text or "Â" in text):
        return text
    # The no-break space of a double-encoded 'à' was flattened to a plain space.
    text = text.replace("\u00c3\u0192 ", "\u00c3\u0192\u00c2\u00a0")
    for _ in range(3):
        try:
            fixed = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
        if fixed == text:
            break
        text = fixed
    return text


def station_changes(a: pd.DataFrame, b: pd.DataFrame, move_threshold_m: float) -> pd.DataFrame:
    """Row-level differences between two station tables (added, removed, renamed, ...)."""
    ta, tb = stations_table(a), stations_table(b)
    joined = ta.join(tb, how="outer", lsuffix="_a", rsuffix="_b")
    joined["distance_m"] = haversine_m(
        joined["lat_a"], joined["lon_a"], joined["lat_b"], joined["lon_b"]
    )
    in_a, in_b = joined.index.isin(ta.index), joined.index.isin(tb.index)
    both = in_a & in_b
    names_a = joined["name_a"].map(repair_text).astype("string").str.strip()
    names_b = joined["name_b"].map(repair_text).astype("string").str.strip()
    cap_a, cap_b = joined["capacity_a"], joined["capacity_b"]
    kinds = {
        "added": ~in_a & in_b,
        "removed": in_a & ~in_b,
        "renamed": both & names_a.notna() & names_b.notna() & (names_a != names_b).fillna(False),
        "moved": both & (joined["distance_m"] > move_threshold_m).fillna(False),
        "capacity": both & cap_a.notna() & cap_b.notna() & (cap_a != cap_b).fillna(False),
    }
    rows = []
    for kind, mask in kinds.items():
        part = joined[mask].copy()
        part.insert(0, "change", kind)
        rows.append(part)
    cols = ["change", "name_a", "name_b", "capacity_a", "capacity_b", "distance_m"]
    cols += ["lat_a", "lon_a", "lat_b", "lon_b", "commune_a", "commune_b"]
    out = pd.concat(rows)[cols].rename_axis("station_code").reset_index()
    out["distance_m"] = out["distance_m"].round(1)
    return out.sort_values(["change", "station_code"], ignore_index=True)


def compare_areas(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Area indicators of both sides side by side, with ``<indicator>_delta`` = B - A."""
    keys = ["area_level", "area"]
    merged = area_availability(a).merge(
        area_availability(b), on=keys, how="outer", suffixes=("_a", "_b")
    )
    for name in ("n_stations", *INDICATORS):
        merged[f"{name}_delta"] = merged[f"{name}_b"] - merged[f"{name}_a"]
    order = {"network": 0, "arrondissement": 1, "commune": 2}
    merged["_o"] = merged["area_level"].map(order)
    merged["_n"] = pd.to_numeric(merged["area"], errors="coerce")
    merged = merged.sort_values(["_o", "_n", "area"]).drop(columns=["_o", "_n"])
    return merged.reset_index(drop=True)


# --- the comparison ------------------------------------------------------------------


@dataclass
class Side:
    """One snapshot set to compare: a path, maybe at a git revision, maybe within dates."""

    path: str
    rev: str | None = None
    dates: tuple[date, date] | None = None

    def label(self) -> str:
        """How the report names this side."""
        text = f"{self.rev}:{self.path}" if self.rev else self.path
        return f"{text} [{self.dates[0]}..{self.dates[1]}]" if self.dates else text


def _network_metrics(areas: pd.DataFrame) -> dict[str, Any]:
    row = areas[areas["area_level"] == "network"].iloc[0]
    return {
        name: {"a": row[f"{name}_a"], "b": row[f"{name}_b"], "delta": row[f"{name}_delta"]}
        for name in ("n_stations", *INDICATORS)
    }


def comparison_figure(areas: pd.DataFrame, labels: tuple[str, str]) -> Any:
    """Occupancy and empty share per Paris arrondissement, side A against side B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = areas[areas["area_level"] == "arrondissement"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    x = pd.to_numeric(arr["area"]).to_numpy()
    for ax, name, title in (
        (axes[0], "occupancy_mean", "Mean occupancy (bikes / (bikes + docks))"),
        (axes[1], "empty_share", "Share of reports with no bike"),
    ):
        ax.bar(x - 0.2, arr[f"{name}_a"] * 100, width=0.4, label=f"A: {labels[0]}")
        ax.bar(x + 0.2, arr[f"{name}_b"] * 100, width=0.4, label=f"B: {labels[1]}")
        ax.set_title(title)
        ax.set_xlabel("Paris arrondissement")
        ax.set_ylabel("%")
        ax.set_xticks(range(1, 21))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Vélib' availability per arrondissement, snapshot A vs B")
    return fig


def compare(
    a: Side,
    b: Side,
    out_dir: Path,
    *,
    metrics_path: Path | None = None,
    move_threshold_m: float = 50.0,
    repo: Path | None = None,
) -> dict[str, Any]:
    """Compare two snapshot sets and write the report folder (and metrics JSON).

    Writes ``stations.csv`` (one row per station difference), ``areas.csv``
    (indicators per area for A, B and B - A), ``areas.png`` and ``report.md``
    into ``out_dir`` (rewritten), and the summary as metrics JSON.

    Returns:
        The summary (the metrics) as a dict.
    """
    repo = Path(repo or project_root())
    with tempfile.TemporaryDirectory(prefix="velib-compare-") as tmp:
        frames, rejected = [], []
        for side in (a, b):
            path = materialize(side.path, side.rev, repo, Path(tmp)) if side.rev else side.path
            df, rej = load_snapshot_set(Path(path), side.dates)
            if df.empty:
                raise ValueError(f"no station records in {side.label()}")
            frames.append(df)
            rejected.append(rej)
    changes = station_changes(frames[0], frames[1], move_threshold_m)
    areas = compare_areas(frames[0], frames[1])
    counts = changes["change"].value_counts()
    summary = {
        "a": {"label": a.label(), "records": len(frames[0]), "rejected": rejected[0]},
        "b": {"label": b.label(), "records": len(frames[1]), "rejected": rejected[1]},
        "stations": {
            "a": int(frames[0]["station_code"].nunique()),
            "b": int(frames[1]["station_code"].nunique()),
            **{k: int(counts.get(k, 0)) for k in ("added", "removed", "renamed", "moved")},
            "capacity_changed": int(counts.get("capacity", 0)),
        },
        "capacity_total": {
            side: int(stations_table(df)["capacity"].fillna(0).sum())
            for side, df in zip(("a", "b"), frames, strict=True)
        },
        "network": _network_metrics(areas),
        "move_threshold_m": move_threshold_m,
    }
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    write_csv(changes, out_dir / "stations.csv", digits=6)
    write_csv(areas, out_dir / "areas.csv")
    save_figure(comparison_figure(areas, (a.label(), b.label())), out_dir / "areas.png")
    (out_dir / "report.md").write_text(render_report(summary, changes, areas), encoding="utf-8")
    if metrics_path is not None:
        write_json(summary, metrics_path)
    log.info("compare: %s", summary_line(summary))
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """One line of counts for the terminal."""
    s = summary["stations"]
    occ = summary["network"]["occupancy_mean"]
    return (
        f"stations A={s['a']} B={s['b']} added={s['added']} removed={s['removed']} "
        f"renamed={s['renamed']} moved={s['moved']} capacity_changed={s['capacity_changed']}; "
        f"network occupancy {_pct(occ['a'])} -> {_pct(occ['b'])}"
    )


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def render_report(summary: dict[str, Any], changes: pd.DataFrame, areas: pd.DataFrame) -> str:
    """The Markdown report: counts, the network, arrondissements, and example changes."""
    s = summary["stations"]
    lines = [
        "# Snapshot comparison",
        "",
        f"- A: `{summary['a']['label']}` ({summary['a']['records']} records)",
        f"- B: `{summary['b']['label']}` ({summary['b']['records']} records)",
        "",
        "| stations in A | in B | added | removed | renamed | moved | capacity changed |",
        "|---|---|---|---|---|---|---|",
        f"| {s['a']} | {s['b']} | {s['added']} | {s['removed']} | {s['renamed']} "
        f"| {s['moved']} | {s['capacity_changed']} |",
        "",
        f"Total capacity (docks): A {summary['capacity_total']['a']}, "
        f"B {summary['capacity_total']['b']}. Moved means more than "
        f"{summary['move_threshold_m']:g} m.",
        "",
        "## Availability per area (B - A)",
        "",
        "| level | area | stations A | stations B | occupancy A | occupancy B "
        "| empty share A | empty share B |",
        "|---|---|---|---|---|---|---|---|",
    ]
    shown = areas[areas["area_level"].isin(["network", "arrondissement"])]
    for r in shown.itertuples():
        lines.append(
            f"| {r.area_level} | {r.area} | {_int(r.n_stations_a)} | {_int(r.n_stations_b)} "
            f"| {_pct(r.occupancy_mean_a)} | {_pct(r.occupancy_mean_b)} "
            f"| {_pct(r.empty_share_a)} | {_pct(r.empty_share_b)} |"
        )
    lines += ["", "Communes: see `areas.csv`. Figure: `areas.png`.", "", "## Station changes", ""]
    for kind, part in changes.groupby("change", sort=True):
        examples = ", ".join(
            f"{r.station_code} ({r.name_b if pd.notna(r.name_b) else r.name_a})"
            for r in part.head(10).itertuples()
        )
        lines.append(f"- **{kind}** ({len(part)}): {examples}{', ...' if len(part) > 10 else ''}")
    return "\n".join(lines) + "\n"


def _int(value: Any) -> str:
    return "-" if pd.isna(value) else str(int(value))
