"""What ``velib compare`` tells its reader: metrics JSON, one line, ``report.md``, ``areas.png``.

Every rendering starts with when each side was taken (UTC and Paris time,
weekday, span, number of snapshots), because an availability difference
means nothing without it, and repeats the warning of
:func:`pipeline.compare.when.select` when the sides are not like with like.
``dvc metrics show`` gets a few flat, well-named numbers and times; the
per-station and per-area details are in ``stations.csv`` and ``areas.csv``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import vocabulary
from pipeline.compare.load import repair_text
from pipeline.compare.when import Selection, Timing, duration
from pipeline.research.tables import save_figure, write_csv, write_json

CHANGE_COUNTS: tuple[str, ...] = ("added", "removed", "renamed", "moved", "capacity_changed")
ATTRIBUTION = "Data © Vélib' Métropole, © Ville de Paris (ODbL)"


@dataclass(frozen=True, eq=False)
class SideSummary:
    """One side as the report describes it."""

    label: str
    timing: Timing
    records: int
    rejected: int
    stations: int
    capacity: int


@dataclass(frozen=True, eq=False)
class Summary:
    """The outcome of one comparison (what :func:`pipeline.compare.job.compare` returns).

    Attributes:
        changes: station counts per kind of change (:data:`CHANGE_COUNTS`).
        network: the network's availability indicators, (A, B), over the
            snapshots the selection kept.
        stale_after: how long a record stays in force (see :mod:`pipeline.compare.when`).
    """

    a: SideSummary
    b: SideSummary
    changes: dict[str, int]
    selection: Selection
    network: dict[str, tuple[float, float]]
    move_threshold_m: float
    stale_after: timedelta

    def metrics(self) -> dict[str, Any]:
        """The metrics JSON: flat keys, so ``dvc metrics show`` stays one readable row."""
        out: dict[str, Any] = {}
        for key, side in (("a", self.a), ("b", self.b)):
            out[f"{key}_utc"] = side.timing.utc()
            out[f"{key}_paris"] = side.timing.text("paris")
            out[f"{key}_snapshots"] = side.timing.n
            out[f"stations_{key}"] = side.stations
        out.update({f"stations_{k}": v for k, v in self.changes.items()})
        out["like_with_like"] = self.selection.like_with_like
        return out


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _int(value: Any) -> str:
    return "-" if pd.isna(value) else str(int(value))


def summary_line(summary: Summary) -> str:
    """One line for the terminal: when, how many, what changed, and whether it is comparable."""
    a, b, c = summary.a, summary.b, summary.changes
    occ = summary.network["occupancy_mean"]
    sel = summary.selection
    if sel.like_with_like:
        how = f"like with like, {sel.kept[0]} and {sel.kept[1]} snapshots"
    else:
        how = "NOT like with like, see the report"
    return (
        f"A {a.timing.text()} ({a.timing.span()}) vs B {b.timing.text()} ({b.timing.span()}); "
        f"stations A={a.stations} B={b.stations} "
        + " ".join(f"{k}={c[k]}" for k in CHANGE_COUNTS)
        + f"; network occupancy {_pct(occ[0])} -> {_pct(occ[1])} ({how})"
    )


def _when_table(summary: Summary) -> list[str]:
    a, b = summary.a, summary.b
    rows = [
        ("snapshot set", f"`{a.label}`", f"`{b.label}`"),
        ("Paris time", a.timing.text("paris"), b.timing.text("paris")),
        ("UTC", a.timing.text("utc"), b.timing.text("utc")),
        ("snapshots", a.timing.span(), b.timing.span()),
        ("records (rejected)", f"{a.records} ({a.rejected})", f"{b.records} ({b.rejected})"),
    ]
    return ["| | A | B |", "|---|---|---|", *(f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows)]


def how_compared(summary: Summary) -> str:
    """One paragraph: which snapshots of each side the availability indicators use."""
    sel, a, b = summary.selection, summary.a.timing, summary.b.timing
    if sel.rule == "instants":
        return (
            f"Each side is one snapshot: A {a.text()}, B {b.text()}; area values are means "
            "over the stations' states at that moment."
        )
    else:
        which = {
            "hours and day types": "Like with like: only the snapshots taken at the same Paris "
            "hours on the same day type are compared",
            "hours": "Only the snapshots taken at the same Paris hours are compared (no day "
            "type is in both)",
            "all": "All snapshots are compared (no hour of the day is in both)",
        }[sel.rule]
        cell = "(day type, hour)" if sel.rule == "hours and day types" else "hour"
        head = (
            f"{which}: {sel.kept_hours()} (Paris time). Kept: A {sel.kept[0]} of "
            f"{sel.total[0]} snapshots, B {sel.kept[1]} of {sel.total[1]}. Each kept {cell} "
            "weighs the same on both sides."
        )
    return (
        f"{head} At each snapshot, each station is in the state of its last record "
        f"(at most {duration(summary.stale_after)} old); area values are means over those "
        "station-snapshots."
    )


def _definitions() -> str:
    names = (*(c for c in vocabulary.CONDITIONS if c != "normal"), "occupancy")
    return "; ".join(f"{n} = {vocabulary.DEFINITIONS[n]}" for n in names)


def render_report(summary: Summary, changes: pd.DataFrame, areas: pd.DataFrame) -> str:
    """The Markdown report: when, station counts, availability per area, example changes."""
    c = summary.changes
    lines = ["# Snapshot comparison", "", *_when_table(summary), ""]
    for warning in summary.selection.warnings:
        lines += [f"> **Not like with like.** {warning}", ""]
    lines += [
        "## Stations",
        "",
        "| stations in A | in B | added | removed | renamed | moved | capacity changed |",
        "|---|---|---|---|---|---|---|",
        f"| {summary.a.stations} | {summary.b.stations} | "
        + " | ".join(str(c[k]) for k in CHANGE_COUNTS)
        + " |",
        "",
        f"Total capacity (docks): A {summary.a.capacity}, B {summary.b.capacity}. Moved means "
        f"more than {summary.move_threshold_m:g} m. Station changes use every snapshot of "
        "each side; they do not depend on the hour.",
        "",
        "## Availability per area",
        "",
        how_compared(summary),
        "",
        f"Definitions (`pipeline/vocabulary.py`): {_definitions()}.",
        "",
        "| level | area | stations A | stations B | occupancy A | occupancy B "
        "| empty share A | empty share B |",
        "|---|---|---|---|---|---|---|---|",
    ]
    shown = areas[areas["area_level"].isin(["network", "arrondissement"])]
    for r in shown.itertuples():
        lines.append(
            f"| {r.area_level} | {r.area} | {_int(r.stations_known_a)} "
            f"| {_int(r.stations_known_b)} | {_pct(r.occupancy_mean_a)} "
            f"| {_pct(r.occupancy_mean_b)} | {_pct(r.empty_share_a)} | {_pct(r.empty_share_b)} |"
        )
    lines += ["", "Communes: see `areas.csv`. Figure: `areas.png`.", "", "## Station changes", ""]
    for kind, part in changes.groupby("change", sort=True):
        examples = ", ".join(
            f"{r.station_code} ({repair_text(r.name_b if pd.notna(r.name_b) else r.name_a)})"
            for r in part.head(10).itertuples()
        )
        lines.append(f"- **{kind}** ({len(part)}): {examples}{', ...' if len(part) > 10 else ''}")
    return "\n".join(lines) + "\n"


def comparison_figure(areas: pd.DataFrame, summary: Summary) -> Any:
    """Occupancy and empty share per Paris arrondissement, A against B, saying when each was.

    The legend, which says when each side was taken, sits under the panels,
    outside them, so it never hides a bar; the title repeats the warning when
    the sides are not like with like.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = areas[areas["area_level"] == "arrondissement"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), layout="constrained")
    x = pd.to_numeric(arr["area"]).to_numpy()
    for ax, name, title in (
        (axes[0], "occupancy_mean", "Mean occupancy, bikes / (bikes + docks)"),
        (axes[1], "empty_share", "Empty share (no bike to take)"),
    ):
        for side, offset in (("a", -0.2), ("b", 0.2)):
            s = getattr(summary, side)
            label = f"{side.upper()}: {s.timing.text()} ({s.timing.span()}), {s.label}"
            ax.bar(x + offset, arr[f"{name}_{side}"] * 100, width=0.4, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("Paris arrondissement")
        ax.set_ylabel("%")
        ax.set_xticks(range(1, 21))
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=1, fontsize=9, frameon=False)
    sel = summary.selection
    note = (
        "Not like with like: the sides differ in time of day or day type, so the bars are "
        "not a change of the network (see report.md)"
        if sel.warnings
        else f"Like with like: the same Paris hours and day types ({sel.kept[0]} and "
        f"{sel.kept[1]} snapshots, see report.md)"
    )
    fig.suptitle(
        f"Vélib' availability per Paris arrondissement, A vs B\n{note}. {ATTRIBUTION}",
        fontsize=10,
    )
    return fig


def write_report(
    summary: Summary,
    changes: pd.DataFrame,
    areas: pd.DataFrame,
    out_dir: Path,
    metrics_path: Path | None,
) -> None:
    """Rewrite ``out_dir`` completely (a DVC output) and the metrics JSON if asked."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    write_csv(changes, out_dir / "stations.csv", digits=6)
    write_csv(areas, out_dir / "areas.csv")
    save_figure(comparison_figure(areas, summary), out_dir / "areas.png")
    text = render_report(summary, changes, areas)
    (out_dir / "report.md").write_text(text, encoding="utf-8")
    if metrics_path is not None:
        write_json(summary.metrics(), metrics_path)
