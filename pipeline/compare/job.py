"""Compare two snapshot sets: stations added, removed, renamed, moved, resized; availability.

The entry point of ``velib compare`` and of the DVC ``compare`` stage is
:func:`compare`; :func:`summary_line` is its one line for the terminal. The
work is split by question:

* :mod:`pipeline.compare.load` — where the two sides come from (paths, git
  revisions, date ranges) and reading them into one status frame each;
* :mod:`pipeline.compare.stations` — what changed station by station (added,
  removed, renumbered, renamed, moved, capacity);
* this module — the availability indicators per area, named and defined by
  :mod:`pipeline.vocabulary`, with their day-to-day spread;
* :mod:`pipeline.compare.when` — when each side was taken, and which of its
  snapshots the availability indicators compare like with like;
* :mod:`pipeline.compare.report` — the metrics JSON, ``report.md`` and ``areas.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd

from pipeline import vocabulary
from pipeline.clock import paris_dates
from pipeline.compare.load import Side, load_sides, parse_dates, repair_text
from pipeline.compare.report import (
    CHANGE_COUNTS,
    SideSummary,
    Summary,
    summary_line,
    write_report,
)
from pipeline.compare.stations import station_changes, stations_table
from pipeline.compare.when import Timing, select, states_at
from pipeline.research.tables import FLAGS, OCCUPANCY, project_root, with_flags
from pipeline.settings import project
from pipeline.settings.compare import CompareSettings

__all__ = [
    "INDICATORS",
    "Side",
    "Summary",
    "compare",
    "parse_dates",
    "repair_text",
    "summary_line",
]

# Each area indicator and the per-station column (record field or with_flags flag) it averages.
# The names are the vocabulary's area columns; a name the vocabulary lacks fails at import.
SOURCES: dict[str, str] = {
    "bikes_mean": "bikes_available",
    "mechanical_mean": "mechanical_available",
    "ebike_mean": "ebike_available",
    "docks_mean": "docks_available",
    f"{OCCUPANCY}_mean": OCCUPANCY,
    **{f"{condition}_share": condition for condition in FLAGS},
}


def _area_indicators() -> tuple[str, ...]:
    """The SOURCES names in the vocabulary's column order; a name it lacks is an error."""
    columns = vocabulary.names(vocabulary.AREA)
    unknown = sorted(set(SOURCES) - set(columns))
    if unknown:
        raise RuntimeError(f"compare indicators missing from vocabulary.AREA: {unknown}")
    return tuple(n for n in columns if n in SOURCES)


INDICATORS: tuple[str, ...] = _area_indicators()
STATIONS_KNOWN = "stations_known"
# compare's own columns beside the vocabulary's: Paris days a side's values come from,
# the day-to-day standard deviation of an indicator, and the standard error of B - A.
DAYS, SD, DELTA_SE = "days", "_sd", "_delta_se"
_LEVEL_ORDER = {"network": 0, "arrondissement": 1, "commune": 2}


# --- availability -----------------------------------------------------------------------


def sample(df: pd.DataFrame, weights: pd.Series, stale_after: timedelta) -> pd.DataFrame:
    """The station-snapshots availability is averaged over, each with its snapshot's weight.

    One row per kept snapshot time (the index of ``weights``) and station in
    force then, flagged by :func:`pipeline.research.tables.with_flags`, with the
    snapshot's Paris ``day``; the place is the station's last known one, so a
    station counts in one area only.
    """
    states = states_at(df, pd.DatetimeIndex(weights.index), stale_after)
    states["weight"] = states["at"].map(weights).astype("float64")
    places = stations_table(df)[["commune", "arrondissement"]]
    states = states.drop(columns=["commune", "arrondissement"]).join(places, on="station_code")
    states["day"] = paris_dates(states["at"]).to_numpy()
    return with_flags(states)


def _area_keys(samples: pd.DataFrame) -> Iterator[tuple[str, pd.Series]]:
    """Per area level of the vocabulary, the area of each station-snapshot that has one."""
    for level in vocabulary.AREA_LEVELS:
        if level == "network":
            yield level, pd.Series(vocabulary.NETWORK_AREA, index=samples.index)
            continue
        keep = samples[level].notna()
        if keep.any():  # a level no station is placed in (a sample outside Paris) has no area
            kind = "Int64" if level == "arrondissement" else "string"
            yield level, samples.loc[keep, level].astype(kind).astype(str)


def _weighted(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each source times the snapshot weight, and the weight where the source is defined."""
    values = samples[list(SOURCES.values())].astype("float64")
    values.columns = list(SOURCES)
    weight = samples["weight"]
    return values.mul(weight, axis=0), values.notna().mul(weight, axis=0)


def daily_values(samples: pd.DataFrame) -> pd.DataFrame:
    """Each indicator per area and Paris day: index (area_level, area, day)."""
    weighted, defined = _weighted(samples)
    parts = []
    for level, key in _area_keys(samples):
        by_day = [key, samples.loc[key.index, "day"]]
        rows = key.index
        daily = weighted.loc[rows].groupby(by_day).sum() / defined.loc[rows].groupby(by_day).sum()
        daily = daily[list(INDICATORS)]
        daily.index = daily.index.set_names(["area", "day"])
        parts.append(pd.concat({level: daily}, names=["area_level"]))
    return pd.concat(parts)


def area_availability(samples: pd.DataFrame) -> pd.DataFrame:
    """Indicators per area level of the vocabulary (network, commune, arrondissement).

    An indicator is the weighted mean of its source over the area's
    station-snapshots where the source is defined (occupancy is not when a
    station has neither bikes nor docks): the snapshot analogue of the
    stream's station-time means. Beside it, ``days`` (Paris days with a value)
    and ``<indicator>_sd``: the standard deviation of the day-by-day values,
    how much the indicator moves from one day to the next.
    """
    weighted, defined = _weighted(samples)
    daily = daily_values(samples)
    parts = []
    for level, key in _area_keys(samples):
        rows = key.index
        agg = weighted.loc[rows].groupby(key).sum() / defined.loc[rows].groupby(key).sum()
        agg = agg[list(INDICATORS)]
        per_day = daily.loc[level]
        agg = agg.join(per_day.groupby(level="area").std(ddof=1).add_suffix(SD))
        agg.insert(0, DAYS, per_day.groupby(level="area").size())
        agg.insert(0, STATIONS_KNOWN, samples.loc[rows, "station_code"].groupby(key).nunique())
        agg.insert(0, "area_level", level)
        parts.append(agg.rename_axis("area").reset_index())
    spread = [f"{n}{SD}" for n in INDICATORS]
    return pd.concat(parts, ignore_index=True)[
        ["area_level", "area", STATIONS_KNOWN, DAYS, *INDICATORS, *spread]
    ]


def same_snapshots(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both samples cut to the station-snapshots they share: the same stations at the same times.

    Returned in the same order, row for row, so B - A can be taken pair by pair.
    """
    keys = ["at", "station_code"]
    shared = a[keys].merge(b[keys], on=keys)
    cut = [side.merge(shared, on=keys).sort_values(keys, ignore_index=True) for side in (a, b)]
    return cut[0], cut[1]


def _paired_se(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The standard error of each area's B - A from its paired day-by-day differences.

    ``a`` and ``b`` hold the same station-snapshots (:func:`same_snapshots`), so
    each Paris day has a value on both sides and D = B - A is taken day by day;
    the error is sd(D) / sqrt(days). With a single day there is no spread to
    measure it from: it is zero when every station-snapshot is the same on both
    sides (nothing differs, so nothing is uncertain), else unknown.
    """
    diff = daily_values(b) - daily_values(a)
    by_area = diff.groupby(level=["area_level", "area"])
    se = by_area.std(ddof=1).div(by_area.size().pow(0.5), axis=0)
    va, vb = (_weighted(side)[0] for side in (a, b))
    same = ((va == vb) | (va.isna() & vb.isna())).all(axis=1)
    for level, key in _area_keys(a):
        identical = same.loc[key.index].groupby(key).all()
        for area, alike in identical.items():
            if alike:
                se.loc[(level, area), :] = 0.0
    return se.add_suffix(DELTA_SE)


def compare_areas(a: pd.DataFrame, b: pd.DataFrame, *, paired: bool = False) -> pd.DataFrame:
    """Area indicators of both samples side by side, B - A and its standard error.

    ``<indicator>_delta`` = B - A. Two sides taken at different times are
    independent: ``<indicator>_delta_se`` comes from the day-to-day spread of
    each side, sqrt(sd_A²/days_A + sd_B²/days_B), left empty when a side has
    fewer than two days. ``paired`` sides hold the same snapshot times (a
    table compared with itself, or with a version of it holding the same
    snapshots, such as a compaction's; a re-run of the same recording): they
    are compared on the station-snapshots both hold, and the error is that of
    the paired differences (:func:`_paired_se`), so a table compared with
    itself differs by zero, with zero uncertainty. Either way, a difference
    within about two standard errors cannot be told from day-to-day noise.
    """
    keys = ["area_level", "area"]
    if paired:
        a, b = same_snapshots(a, b)
    merged = area_availability(a).merge(
        area_availability(b), on=keys, how="outer", suffixes=("_a", "_b")
    )
    two_days = (merged[f"{DAYS}_a"] >= 2) & (merged[f"{DAYS}_b"] >= 2)
    for name in (STATIONS_KNOWN, *INDICATORS):
        merged[f"{name}_delta"] = merged[f"{name}_b"] - merged[f"{name}_a"]
    if paired:
        merged = merged.merge(_paired_se(a, b).reset_index(), on=keys, how="left")
    else:
        for name in INDICATORS:
            var = (
                merged[f"{name}{SD}_a"] ** 2 / merged[f"{DAYS}_a"]
                + merged[f"{name}{SD}_b"] ** 2 / merged[f"{DAYS}_b"]
            )
            merged[f"{name}{DELTA_SE}"] = var.pow(0.5).where(two_days)
    merged = merged.drop(columns=[f"{n}{SD}_{s}" for n in INDICATORS for s in "ab"])
    merged["_o"] = merged["area_level"].map(_LEVEL_ORDER)
    merged["_n"] = pd.to_numeric(merged["area"], errors="coerce")
    merged = merged.sort_values(["_o", "_n", "area"]).drop(columns=["_o", "_n"])
    return merged.reset_index(drop=True)


# --- the comparison ---------------------------------------------------------------------


def compare(
    a: Side,
    b: Side,
    out_dir: Path,
    *,
    metrics_path: Path | None = None,
    move_threshold_m: float | None = None,
    renumber_within_m: float | None = None,
    repo: Path | None = None,
    stale_after: timedelta | None = None,
) -> Summary:
    """Compare two snapshot sets and write the report folder (and metrics JSON).

    Station changes use every record of each side; availability uses only
    the snapshots that :func:`pipeline.compare.when.select` keeps, so the two
    sides are taken at the same hours and on the same day types where the
    data allow it, and the report says plainly where they do not.

    Writes ``stations.csv`` (one row per station difference), ``areas.csv``
    (indicators per area for A, B, B - A and its standard error), ``report.md``
    and, when the sides are like with like, ``areas.png`` into ``out_dir``
    (rewritten), and the flat metrics JSON if asked.

    Raises:
        FileNotFoundError: a side's path does not exist (at its revision).
        ValueError: a side holds no station record.
    """
    if move_threshold_m is None:  # the code defaults live in CompareSettings alone
        move_threshold_m = float(CompareSettings.default("move_threshold_m"))
    if renumber_within_m is None:
        renumber_within_m = float(CompareSettings.default("renumber_within_m"))
    if stale_after is None:
        stale_after = project.parse_duration(CompareSettings.default("stale_after"))
    la, lb = load_sides(a, b, Path(repo or project_root()))
    changes = station_changes(la.frame, lb.frame, move_threshold_m, renumber_within_m)
    timings = Timing.of(la.frame), Timing.of(lb.frame)
    selection = select(*timings)
    samples = [
        sample(loaded.frame, weights, stale_after)
        for loaded, weights in zip((la, lb), selection.weights, strict=True)
    ]
    # The same snapshot times on both sides (a table against itself, or a version of it holding
    # the same snapshots; a re-run of one recording): B - A is paired, snapshot by snapshot.
    paired = set(selection.weights[0].index) == set(selection.weights[1].index)
    areas = compare_areas(*samples, paired=paired)
    counts = changes["change"].value_counts().rename({"capacity": "capacity_changed"})
    network = areas[areas["area_level"] == "network"].iloc[0]
    sides = [
        SideSummary(
            label=loaded.label(),
            version=loaded.version,
            timing=timing,
            records=len(loaded.frame),
            rejected=loaded.rejected,
            stations=int(loaded.frame["station_code"].nunique()),
            capacity=int(stations_table(loaded.frame)["capacity"].fillna(0).sum()),
        )
        for loaded, timing in zip((la, lb), timings, strict=True)
    ]
    summary = Summary(
        a=sides[0],
        b=sides[1],
        changes={k: int(counts.get(k, 0)) for k in CHANGE_COUNTS},
        selection=selection,
        paired=paired,
        network={n: (float(network[f"{n}_a"]), float(network[f"{n}_b"])) for n in INDICATORS},
        network_se={
            n: None if pd.isna(network[f"{n}{DELTA_SE}"]) else float(network[f"{n}{DELTA_SE}"])
            for n in INDICATORS
        },
        move_threshold_m=move_threshold_m,
        renumber_within_m=renumber_within_m,
        stale_after=stale_after,
    )
    write_report(summary, changes, areas, Path(out_dir), metrics_path)
    return summary  # its one line is the caller's to print (summary_line): once


def run(settings: CompareSettings) -> Summary:
    """``velib compare`` and the DVC ``compare`` stage: the two sides ``settings`` name.

    Raises:
        ValueError: bad ``--a-dates``/``--b-dates``, or a side with no station record.
        FileNotFoundError: a side's path does not exist at its revision.
    """
    assert settings.a is not None and settings.b is not None  # checked by CompareSettings
    a_dates = parse_dates(settings.a_dates) if settings.a_dates else None
    b_dates = parse_dates(settings.b_dates) if settings.b_dates else None
    (a, a_at), (b, b_at) = settings.side("A"), settings.side("B")
    return compare(
        Side(a, settings.rev_a, a_dates, a_at),
        Side(b, settings.rev_b, b_dates, b_at),
        settings.out,
        metrics_path=settings.metrics,
        move_threshold_m=settings.move_threshold_m,
        renumber_within_m=settings.renumber_within_m,
        stale_after=project.parse_duration(settings.stale_after),
    )
