"""When each side of ``velib compare`` was taken, and which snapshots compare like with like.

Availability follows the clock: stations empty out in the morning rush,
fill up in the evening, and Saturdays look nothing like Tuesdays. Two sets
taken at different hours or on different kinds of day differ even when the
network did not change, so the comparison says when each side was taken and
keeps, for the availability indicators, only the snapshots taken at the same
local hours (Europe/Paris) and, where both sides have one, on the same day
type (weekday or weekend). Station changes (added, removed, moved, ...) do not
depend on the hour and use every snapshot.

A *snapshot* is one ``observed_at`` of the set. The station records are read
as a change log (the model of :mod:`pipeline.vocabulary`): at each snapshot
time every station is in the state of its last record at or before it, for
``stale_after`` at most. For raw snapshots that hold every station this is the
snapshot itself; for the stream's ``status/`` table (changes plus heartbeats)
it restores the stations that did not change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from pipeline.clock import paris_time, paris_times
from pipeline.record import format_timestamp

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY, WEEKEND = "weekday", "weekend"
# Instants closer than this in the time of day are taken as the same time of day.
SAME_TIME_OF_DAY = timedelta(hours=1)


def day_type(ts: pd.Timestamp) -> str:
    """Weekday or weekend, by the Paris calendar (public holidays count as their weekday)."""
    return WEEKEND if paris_time(ts).weekday() >= 5 else WEEKDAY


def stamp(ts: pd.Timestamp, zone: str = "paris") -> str:
    """``Tue 2024-11-19 09:22 CET`` (or ``... 08:22 UTC``): the weekday, in English always."""
    t = paris_time(ts) if zone == "paris" else ts.tz_convert("UTC")
    return f"{DAY_NAMES[t.weekday()][:3]} {t:%Y-%m-%d %H:%M} {t.tzname()}"


def duration(delta: timedelta) -> str:
    """``2 d 13 h 15 min``: a span as people read it."""
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins or not parts else []
    return " ".join(parts)


@dataclass(frozen=True, eq=False)
class Timing:
    """The snapshot times (UTC, sorted, distinct) of one snapshot set."""

    times: pd.DatetimeIndex

    @classmethod
    def of(cls, df: pd.DataFrame) -> Timing:
        """The distinct ``observed_at`` of a status frame."""
        return cls(pd.DatetimeIndex(df["observed_at"].drop_duplicates().sort_values()))

    @property
    def first(self) -> pd.Timestamp:
        """The first snapshot."""
        return self.times[0]

    @property
    def last(self) -> pd.Timestamp:
        """The last snapshot."""
        return self.times[-1]

    @property
    def n(self) -> int:
        """Number of snapshots."""
        return len(self.times)

    @property
    def is_instant(self) -> bool:
        """One snapshot: a single moment of the network."""
        return self.n == 1

    def utc(self) -> str:
        """The record's UTC text form: the instant, or ``first/last`` (an ISO interval)."""
        iso = [format_timestamp(t.to_pydatetime()) for t in (self.first, self.last)]
        return iso[0] if self.is_instant else "/".join(iso)

    def text(self, zone: str = "paris") -> str:
        """``Tue 2024-11-19 09:22 CET``, or ``first – last`` for a span."""
        if self.is_instant:
            return stamp(self.first, zone)
        return f"{stamp(self.first, zone)} – {stamp(self.last, zone)}"

    def span(self) -> str:
        """``1 snapshot`` or ``45 snapshots over 2 d 13 h 15 min``."""
        if self.is_instant:
            return "1 snapshot"
        return f"{self.n} snapshots over {duration(self.last - self.first)}"


def states_at(df: pd.DataFrame, times: pd.DatetimeIndex, stale_after: timedelta) -> pd.DataFrame:
    """Each station's state in force at each of ``times``: one row per (time, station).

    ``at`` is the snapshot time; the record's own ``observed_at`` is kept.
    A station whose last record is older than ``stale_after`` is unknown
    there and has no row.
    """
    stations = df["station_code"].drop_duplicates()
    grid = pd.MultiIndex.from_product([times, stations], names=["at", "station_code"]).to_frame(
        index=False
    )
    records = df.sort_values("observed_at", kind="stable")
    states = pd.merge_asof(
        grid.sort_values("at", kind="stable"),
        records,
        left_on="at",
        right_on="observed_at",
        by="station_code",
        direction="backward",
        tolerance=pd.Timedelta(stale_after),
    )
    return states[states["observed_at"].notna()].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Selection:
    """Which snapshots of each side the availability indicators compare, and why.

    Attributes:
        rule: ``instants`` (one snapshot each, nothing to choose), ``hours and
            day types``, ``hours`` (no day type in both), or ``all`` (no hour in both).
        cells: the (day type, Paris hour) kept; day type ``any`` under ``hours``.
        weights: per side, the weight of each kept snapshot time: every cell
            weighs the same on both sides, however many snapshots it holds.
        total: snapshots of each side before the choice.
        warnings: plain sentences for the reader when the sides are not like with like.
    """

    rule: str
    cells: tuple[tuple[str, int], ...]
    weights: tuple[pd.Series, pd.Series]
    total: tuple[int, int]
    warnings: tuple[str, ...]

    @property
    def kept(self) -> tuple[int, int]:
        """Snapshots of each side the availability indicators use."""
        return len(self.weights[0]), len(self.weights[1])

    @property
    def like_with_like(self) -> bool:
        """True when nothing warns that the availability sides differ in when they were taken."""
        return not self.warnings

    def kept_hours(self) -> str:
        """The kept Paris hours, per day type when matched: ``weekday 12:00–01:59; weekend ...``."""
        out: dict[str, list[int]] = {}
        for kind, hour in self.cells:
            out.setdefault(kind, []).append(hour)
        if self.rule != "hours and day types":
            return hour_ranges([h for hours in out.values() for h in hours])
        return "; ".join(f"{kind} {hour_ranges(hours)}" for kind, hours in out.items())


def hour_ranges(hours: list[int]) -> str:
    """Hours of the day as wall-clock ranges, wrapping past midnight: ``12:00–01:59``."""
    todo = sorted(set(hours))
    if len(todo) == 24:
        return "all day"
    runs: list[list[int]] = []
    for h in todo:
        if runs and h == runs[-1][-1] + 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 23:
        runs[0] = runs.pop() + runs[0]
    runs.sort(key=lambda r: r[0])
    return ", ".join(f"{r[0]:02d}:00–{r[-1]:02d}:59" for r in runs)


def _cells(times: pd.DatetimeIndex, with_day_type: bool) -> pd.Series:
    hours = paris_times(times).dt.hour
    kinds = [day_type(t) if with_day_type else "any" for t in times]
    return pd.Series(list(zip(kinds, hours, strict=True)), index=times)


def _weights(cells: pd.Series, keep: set[tuple[str, int]]) -> pd.Series:
    kept = [(t, c) for t, c in cells.items() if c in keep]
    counts = Counter(c for _, c in kept)
    return pd.Series(
        [1.0 / counts[c] for _, c in kept], index=pd.DatetimeIndex([t for t, _ in kept])
    )


def _moment(ts: pd.Timestamp) -> str:
    t = paris_time(ts)
    part = ("night", "morning", "afternoon", "evening")[t.hour // 6]
    day = DAY_NAMES[t.weekday()]
    if day_type(ts) == WEEKDAY:
        return f"a weekday {part} ({day} {t:%H:%M})"
    return f"a {day} {part} ({t:%H:%M})"


def _instant_warnings(a: pd.Timestamp, b: pd.Timestamp) -> tuple[str, ...]:
    pa, pb = paris_time(a), paris_time(b)
    apart = abs((pa.hour * 60 + pa.minute) - (pb.hour * 60 + pb.minute))
    apart = min(apart, 24 * 60 - apart)
    other_day = day_type(a) != day_type(b)
    other_hour = timedelta(minutes=apart) > SAME_TIME_OF_DAY
    if not (other_day or other_hour):
        return ()
    why = [f"{duration(timedelta(minutes=apart))} apart in the time of day"] if other_hour else []
    why += ["a weekday against a weekend day"] if other_day else []
    return (
        f"A and B are single snapshots taken at different moments of the week: "
        f"{_moment(a)} against {_moment(b)}, Paris time ({'; '.join(why)}). "
        "The availability differences below (occupancy, empty and full shares per area) "
        "mix the hour and the day with any change of the network: they are not a change "
        "of the network. The station changes do not depend on the hour.",
    )


def _day_names(times: pd.DatetimeIndex) -> str:
    days = sorted(set(paris_times(times).dt.weekday))
    return ", ".join(DAY_NAMES[d] for d in days)


def select(a: Timing, b: Timing) -> Selection:
    """Choose the snapshots of A and B that availability compares, like with like.

    Two instants are compared as they are, with a warning when they differ
    in day type or by more than :data:`SAME_TIME_OF_DAY` in the time of day.
    Otherwise only the (day type, Paris hour) cells found on both sides are
    kept; if no day type is in both, the Paris hours alone (with a warning);
    if no hour is in both either, everything (with a warning). Each kept cell
    weighs the same on both sides.
    """
    total = (a.n, b.n)
    if a.is_instant and b.is_instant:
        ones = (pd.Series(1.0, index=a.times), pd.Series(1.0, index=b.times))
        return Selection("instants", (), ones, total, _instant_warnings(a.first, b.first))
    warnings: list[str] = []
    rule = "hours and day types"
    ca, cb = _cells(a.times, True), _cells(b.times, True)
    common = set(ca) & set(cb)
    if not common:
        rule = "hours"
        ca, cb = _cells(a.times, False), _cells(b.times, False)
        common = set(ca) & set(cb)
        warnings.append(
            f"No day type is in both sets: A holds {_day_names(a.times)}, B holds "
            f"{_day_names(b.times)} (Paris calendar). Only the same hours of the day are "
            "compared; the availability differences below mix weekday and weekend use "
            "and are not a change of the network."
        )
    if not common:
        rule = "all"
        ca, cb = _cells(a.times, False), _cells(b.times, False)
        common = set(ca) | set(cb)
        warnings.append(
            "No hour of the day (Paris time) is in both sets: availability is compared over "
            "all snapshots, which differ in the time of day; the differences below are not "
            "a change of the network."
        )
    weights = (_weights(ca, common), _weights(cb, common))
    cells = tuple(sorted(common, key=lambda c: (c[0], c[1])))
    return Selection(rule, cells, weights, total, tuple(warnings))
