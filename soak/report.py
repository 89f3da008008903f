"""The long soak's report: each measure's trend per simulated day, figures, Markdown.

A trend is the least-squares slope of a measure against simulated days, with
its day-one value (the mean of the samples of the first simulated day, or of
the first quarter of a run shorter than a day) and the slope as a share of it:
"flat" in the issue's sense is a slope under 1 % of the day-one value a day.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# The measures the issue asks to be flat (or their growth explained and bounded).
WATCHED = ("batch_s", "rss_spark_jvm_mb", "rss_stream_mb", "active_files_status")
FIGURES = {
    "memory": ("RSS (MiB)", "rss_"),
    "jvm": ("Spark driver JVM (MiB)", "jvm_"),
    "batches": ("micro-batch duration (s)", "batch_s"),
    "tables": ("files per Delta table (on disk)", "files_"),
    "active": ("files per Delta table (current version)", "active_files_"),
    "sizes": ("MiB on disk", "mb_"),
    "lag": ("lag", "_lag"),
}


def trend(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """Slope per simulated day of ``key``, its day-one value and the slope as % of it."""
    points = [(r["sim_day"], r[key]) for r in rows if r.get(key) is not None]
    if len(points) < 3:
        return None
    days = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[1] for p in points], dtype=float)
    if days.max() - days.min() <= 0:
        return None
    slope = float(np.polyfit(days, values, 1)[0])
    span = days.max() - days.min()
    first = days.min() + (1.0 if span >= 1.0 else span / 4)
    day_one = float(values[days <= first].mean())
    share = None if day_one == 0 else 100.0 * slope / abs(day_one)
    return {
        "samples": len(points),
        "day_one": round(day_one, 3),
        "slope_per_day": round(slope, 4),
        "slope_pct_of_day_one": None if share is None else round(share, 2),
        "last": round(float(values[-1]), 3),
    }


def trends(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A trend for every measure sampled at least three times."""
    keys = sorted({k for r in rows for k in r} - {"real_s", "sim_day", "batches"})
    return {k: t for k in keys if (t := trend(rows, k)) is not None}


def figures(rows: list[dict[str, Any]], folder: Path, kills: list[dict[str, Any]]) -> list[str]:
    """One PNG per group of measures against simulated days, kills marked; the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name, (label, part) in FIGURES.items():
        keys = sorted(
            {
                k
                for r in rows
                for k in r
                if part in k and (k.startswith(part) or part.startswith("_"))
            }
        )
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(8, 4))
        for key in keys:
            pts = [(r["sim_day"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=key, linewidth=1)
        for kill in kills:
            ax.axvline(kill["sim_day"], color="grey", linewidth=0.5, linestyle=":")
        ax.set_xlabel("simulated day")
        ax.set_ylabel(label)
        ax.set_title(f"{label} (dotted: kill -9)")
        ax.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append(path.name)
    return made


def markdown(report: dict[str, Any]) -> str:
    """The report in Markdown: the verdict, the run, the watched trends, every fault."""
    lines = [
        f"# Soak: {report['days']:g} simulated days at {report['speed']:g}x",
        "",
        f"**{'PASSED' if report['ok'] else 'FAILED'}** in {report['wall_s'] / 60:.1f} min of wall "
        f"time ({report['wall_s_per_sim_day'] / 60:.1f} min per simulated day), seed "
        f"{report['seed']}, faults `{report['faults']}`, {len(report['samples'])} samples.",
        "",
        "## Exactness",
        "",
        f"- topic: {report['topic_records']} records = the archive's changes "
        f"{report['archive_changes']} (stations differing: "
        f"{report['stations_differing_from_the_archive']}, duplicates: "
        f"{report['topic_duplicates']})",
        f"- CSV = topic: {report['csv_equals_topic']}; status/ = topic: "
        f"{report['status_equals_topic']}",
        f"- tables = a replay of the archive: {report.get('tables_equal_replay')}",
        f"- dead letters: {report['dead_letters']} for {report['expected_dead_letters']} "
        f"rejects or stale answers",
        "",
        "## Trends (slope per simulated day)",
        "",
        "| measure | day one | slope / day | % of day one | last |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, t in sorted(report["trends"].items(), key=lambda kv: (kv[0] not in WATCHED, kv[0])):
        lines.append(
            f"| {'**' + key + '**' if key in WATCHED else key} | {t['day_one']:g} | "
            f"{t['slope_per_day']:g} | {_pct(t['slope_pct_of_day_one'])} | {t['last']:g} |"
        )
    lines += ["", "## Faults and recoveries", ""]
    lines += ["| simulated day | killed | recovered after (s) |", "| ---: | --- | ---: |"]
    for kill in report["kills"]:
        back = kill.get("recovered_after_s")
        lines.append(
            f"| {kill['sim_day']:.2f} | {kill['stage']} | {back if back is not None else '-'} |"
        )
    lines += ["", f"Feed fault events: {json.dumps(report['fault_events'], sort_keys=True)}", ""]
    lines += [f"![{f}]({report['figure_dir']}/{f})" for f in report["figures"]]
    return "\n".join(lines) + "\n"


def _belongs(key: str, part: str) -> bool:
    """A measure of a figure: named ``part...`` (or ``..._lag`` for the lag figure)."""
    return key.endswith(part) if part.startswith("_") else key.startswith(part)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} %"
