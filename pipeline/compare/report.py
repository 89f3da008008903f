"""What ``velib compare`` tells its reader: metrics JSON, one line, ``report.md``, ``areas.png``.

Every rendering starts with when each side was taken (UTC and Paris time,
weekday, span, number of snapshots), because an availability difference
means nothing without it, and repeats the warning of
:func:`pipeline.compare.when.select` when the sides are not like with like.
Availability differences are drawn (``areas.png``: B - A per arrondissement
with its day-to-day spread) only for sides that are like with like; otherwise
the report says in one line why there is no figure, so no figure ever
contradicts its own title. ``dvc metrics show`` gets a few flat, well-named
numbers and times; the per-station and per-area details are in
``stations.csv`` and ``areas.csv``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import vocabulary
from pipeline.compare.when import Selection, Timing, duration
from pipeline.research.tables import save_figure, write_csv, write_json
from pipeline.sources.names import name_key

CHANGE_COUNTS: tuple[str, ...] = (
    "added",
    "removed",
    "renumbered",
    "renamed",
    "moved",
    "capacity_changed",
)
FIGURE = "areas.png"
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
    version: int | None = None  # the Delta status table's version read (None: not Delta)


@dataclass(frozen=True, eq=False)
class Summary:
    """The outcome of one comparison (what :func:`pipeline.compare.job.compare` returns).

    Attributes:
        changes: station counts per kind of change (:data:`CHANGE_COUNTS`).
        network: the network's availability indicators, (A, B), over the
            snapshots the selection kept.
        paired: both sides hold the same snapshot times, so B - A is taken
            station by station at each of them (:func:`pipeline.compare.job.compare_areas`).
        network_se: the standard error of each network B - A from the
            day-to-day spread (None when a side has a single day), of the paired
            differences when ``paired``.
        stale_after: how long a record stays in force (see :mod:`pipeline.compare.when`).
    """

    a: SideSummary
    b: SideSummary
    changes: dict[str, int]
    selection: Selection
    paired: bool
    network: dict[str, tuple[float, float]]
    network_se: dict[str, float | None]
    move_threshold_m: float
    renumber_within_m: float
    stale_after: timedelta

    def metrics(self) -> dict[str, Any]:
        """The metrics JSON: flat keys, so ``dvc metrics show`` stays one readable row."""
        out: dict[str, Any] = {}
        for key, side in (("a", self.a), ("b", self.b)):
            out[f"{key}_utc"] = side.timing.utc()
            out[f"{key}_paris"] = side.timing.text("paris")
            out[f"{key}_snapshots"] = side.timing.n
            out[f"stations_{key}"] = side.stations
            if side.version is not None:
                out[f"{key}_version"] = side.version
        out.update({f"stations_{k}": v for k, v in self.changes.items()})
        out["like_with_like"] = self.selection.like_with_like
        return out


def _pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _int(value: Any) -> str:
    return "-" if pd.isna(value) else str(int(value))


def _days(a: Any, b: Any) -> str:
    """``A 7 Paris days, B 1 Paris day``."""
    return ", ".join(
        f"{side} {_int(n)} Paris day{'' if n == 1 else 's'}" for side, n in (("A", a), ("B", b))
    )


def _delta(delta: Any, se: Any) -> str:
    """B - A in percentage points, ± twice its standard error when there is one."""
    if delta is None or pd.isna(delta):
        return "n/a"
    text = f"{100 * delta:+.1f}"
    return text if se is None or pd.isna(se) else f"{text} ± {200 * se:.1f}"


def _version(side: SideSummary) -> str:
    """`` v12`` after a side read from a Delta table at version 12; nothing otherwise."""
    return "" if side.version is None else f" v{side.version}"


def summary_line(summary: Summary) -> str:
    """One line for the terminal: when, how many, what changed, and whether it is comparable."""
    a, b, c = summary.a, summary.b, summary.changes
    occ = summary.network["occupancy_mean"]
    sel = summary.selection
    if summary.paired:
        how = f"paired: the same {sel.kept[0]} snapshots on both sides"
    elif sel.like_with_like:
        how = f"like with like, {sel.kept[0]} and {sel.kept[1]} snapshots"
    else:
        how = "NOT like with like, see the report"
    delta = _delta(occ[1] - occ[0], summary.network_se["occupancy_mean"])
    return (
        f"A{_version(a)} {a.timing.text()} ({a.timing.span()}) vs "
        f"B{_version(b)} {b.timing.text()} ({b.timing.span()}); "
        f"stations A={a.stations} B={b.stations} "
        + " ".join(f"{k}={c[k]}" for k in CHANGE_COUNTS)
        + f"; network occupancy {_pct(occ[0])} -> {_pct(occ[1])} ({delta} pts; {how})"
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


def _example(r: Any) -> str:
    """One station change as the report lists it."""
    if r.change == "renumbered":
        same = "same name" if name_key(r.name_a) == name_key(r.name_b) else f"was {r.name_a}"
        return f"{r.station_code} → {r.new_code} ({r.name_b}; {same}; {r.distance_m:g} m)"
    name = r.name_b if isinstance(r.name_b, str) else r.name_a
    if r.change == "renamed":
        return f"{r.station_code} ({r.name_a} → {r.name_b})"
    return f"{r.station_code} ({name})"


def _why_not_drawn(summary: Summary) -> str:
    """The one line that says why ``areas.png`` is not there."""
    a, b = summary.a.timing, summary.b.timing
    return (
        f"No figure: A ({a.text()}) and B ({b.text()}) are not like with like, so their "
        "availability differences are not drawn (the table above keeps them, with the warning)."
    )


def _availability_table(summary: Summary, areas: pd.DataFrame) -> list[str]:
    lines = [
        "| level | area | stations A | stations B | occupancy A | occupancy B | B − A "
        "| empty share A | empty share B | B − A |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    shown = areas[areas["area_level"].isin(["network", "arrondissement"])]
    for r in shown.itertuples():
        lines.append(
            f"| {r.area_level} | {r.area} | {_int(r.stations_known_a)} "
            f"| {_int(r.stations_known_b)} | {_pct(r.occupancy_mean_a)} "
            f"| {_pct(r.occupancy_mean_b)} "
            f"| {_delta(r.occupancy_mean_delta, r.occupancy_mean_delta_se)} "
            f"| {_pct(r.empty_share_a)} | {_pct(r.empty_share_b)} "
            f"| {_delta(r.empty_share_delta, r.empty_share_delta_se)} |"
        )
    network = areas[areas["area_level"] == "network"].iloc[0]
    days = _days(network.days_a, network.days_b)
    if summary.paired:
        spread = (
            "Paired: A and B hold the same snapshot times, so both sides are taken on the "
            "station-snapshots they share and B − A is in percentage points; ± is twice the "
            f"standard error of the day-by-day paired differences ({days}): zero when every "
            "station-snapshot is the same on both sides; no ± when a single day differs."
        )
    else:
        spread = (
            "B − A is in percentage points; ± is twice its standard error from the day-to-day "
            f"spread of each side ({days}): a difference inside it cannot be told from "
            "day-to-day variation. No ± when a side has a single day."
        )
    lines += ["", spread]
    return lines


def render_report(summary: Summary, changes: pd.DataFrame, areas: pd.DataFrame) -> str:
    """The Markdown report: when, station counts, availability per area, example changes."""
    c = summary.changes
    lines = ["# Snapshot comparison", "", *_when_table(summary), ""]
    for warning in summary.selection.warnings:
        lines += [f"> **Not like with like.** {warning}", ""]
    lines += [
        "## Stations",
        "",
        "| stations in A | in B | added | removed | renumbered | renamed | moved "
        "| capacity changed |",
        "|---|---|---|---|---|---|---|---|",
        f"| {summary.a.stations} | {summary.b.stations} | "
        + " | ".join(str(c[k]) for k in CHANGE_COUNTS)
        + " |",
        "",
        f"Total capacity (docks): A {summary.a.capacity}, B {summary.b.capacity}. "
        f"Renumbered: a station removed and one added within "
        f"{summary.renumber_within_m:g} m of it, taken as one station under a new code "
        f"(nearest first, each station once). Moved means more than "
        f"{summary.move_threshold_m:g} m. A name that differs only by accents, case, "
        "punctuation or spacing is not a rename. Station changes use every snapshot of "
        "each side; they do not depend on the hour.",
        "",
        "## Availability per area",
        "",
        how_compared(summary),
        "",
        f"Definitions (`pipeline/vocabulary.py`): {_definitions()}.",
        "",
        *_availability_table(summary, areas),
        "",
        "Communes: see `areas.csv`. "
        + (
            f"Figure: `{FIGURE}` (B − A per arrondissement, ± twice its standard error)."
            if summary.selection.like_with_like
            else _why_not_drawn(summary)
        ),
        "",
        "## Station changes",
        "",
    ]
    for kind in ("added", "removed", "renumbered", "renamed", "moved", "capacity"):
        part = changes[changes["change"] == kind]
        if kind == "renumbered":  # the closest pairs first: the surest cases
            part = part.sort_values(["distance_m", "station_code"])
        if part.empty:
            continue
        examples = ", ".join(_example(r) for r in part.head(10).itertuples())
        lines.append(f"- **{kind}** ({len(part)}): {examples}{', ...' if len(part) > 10 else ''}")
    return "\n".join(lines) + "\n"


def comparison_figure(areas: pd.DataFrame, summary: Summary) -> Any:
    """B - A per Paris arrondissement (occupancy, empty share), ± twice its standard error.

    Drawn only for sides that are like with like (:func:`write_report`). The
    caption under the panels says when each side was taken and how many days
    the spread comes from.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = areas[areas["area_level"] == "arrondissement"]
    x = pd.to_numeric(arr["area"]).to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), layout="constrained")
    for ax, name, title in (
        (axes[0], "occupancy_mean", "Mean occupancy, bikes / (bikes + docks): B − A"),
        (axes[1], "empty_share", "Empty share (no bike to take): B − A"),
    ):
        se = arr[f"{name}_delta_se"]
        ax.bar(
            x,
            arr[f"{name}_delta"] * 100,
            width=0.7,
            color="tab:blue",
            yerr=None if se.isna().all() else 2 * se.fillna(0).to_numpy() * 100,
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "0.25"},
        )
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("Paris arrondissement")
        ax.set_ylabel("percentage points")
        ax.set_xticks(range(1, 21))
        ax.grid(axis="y", alpha=0.3)
    a, b = summary.a, summary.b
    network = areas[areas["area_level"] == "network"].iloc[0]
    caption = (
        f"A: {a.timing.text()} ({a.timing.span()}), {a.label}\n"
        f"B: {b.timing.text()} ({b.timing.span()}), {b.label}\n"
        f"Whiskers: ± twice the standard error of B − A from the day-to-day spread "
        f"({_days(network.days_a, network.days_b)}; none with a single day). {ATTRIBUTION}"
    )
    fig.supxlabel(caption, fontsize=9)  # under the panels, inside the constrained layout
    sel = summary.selection
    fig.suptitle(
        "Vélib' availability per Paris arrondissement, B − A, like with like: the same Paris "
        f"hours and day types ({sel.kept[0]} and {sel.kept[1]} snapshots, see report.md)",
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
    """Rewrite ``out_dir`` completely (a DVC output) and the metrics JSON if asked.

    ``areas.png`` only when the sides are like with like: a figure of
    availability differences that its own title had to disown would mislead.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    write_csv(changes, out_dir / "stations.csv", digits=6)
    write_csv(areas, out_dir / "areas.csv")
    if summary.selection.like_with_like:
        save_figure(comparison_figure(areas, summary), out_dir / FIGURE)
    text = render_report(summary, changes, areas)
    (out_dir / "report.md").write_text(text, encoding="utf-8")
    if metrics_path is not None:
        write_json(summary.metrics(), metrics_path)
