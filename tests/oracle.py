"""An independent computation of the stream's tables, for tests: plain Python, no Spark.

It shares no code with the pipeline (only the StationRecord and Poll it reads):
the states in force are walked second by second of each window's pieces with
ordinary loops, so a mistake in the Spark transforms cannot hide in both.
Definitions (README, pipeline.vocabulary): a record is in force from its
observed_at until the station's next record or for ``stale_after`` at most;
shares and means are over the known time; area rows weigh each station by its
known seconds; counts "at the end" use the state in force at the window's end.
Observation (docs/outputs.md): a poll sees the stations it listed; a repeat
(same source and observed_at) is the same poll; ``polls_seen`` counts the ok
polls of the window that listed the station, an area's ``polls`` the ok polls
of the window, an alert's ``seen_before_at`` is the station's last poll
strictly before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.poll import Poll
from pipeline.record import StationRecord


def condition(r: StationRecord) -> str:
    if not r.is_installed or (not r.is_renting and not r.is_returning):
        return "out_of_service"
    if r.bikes_available == 0:
        return "empty"
    if r.docks_available == 0:
        return "full"
    return "normal"


@dataclass
class Piece:
    start: datetime
    end: datetime
    rec: StationRecord

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def timelines(records: list[StationRecord]) -> dict[str, list[StationRecord]]:
    """Each station's records in time order; a second record at the same instant is ignored."""
    by_station: dict[str, list[StationRecord]] = defaultdict(list)
    for r in records:
        line = by_station[r.station_code]
        if line and r.observed_at <= line[-1].observed_at:
            continue  # arrives out of order or at the same instant: not in the timeline
        line.append(r)
    return by_station


def intervals(
    line: list[StationRecord], stale: timedelta
) -> list[tuple[datetime, datetime, StationRecord]]:
    out = []
    for i, r in enumerate(line):
        end = r.observed_at + stale
        if i + 1 < len(line):
            end = min(end, line[i + 1].observed_at)
        out.append((r.observed_at, end, r))
    return out


def distinct_polls(polls: list[Poll]) -> list[Poll]:
    """The polls in arrival order, each (source, observed_at) once: the first one read."""
    seen: set[tuple[str, datetime]] = set()
    out = []
    for p in polls:
        if (p.source, p.observed_at) not in seen:
            seen.add((p.source, p.observed_at))
            out.append(p)
    return out


def station_windows(
    records: list[StationRecord],
    window: timedelta,
    stale: timedelta,
    until: datetime,
    polls: list[Poll] | None = None,
) -> dict[tuple[str, datetime], dict]:
    """(station, window start) -> the documented station-row values, up to ``until``."""
    seeing = [p for p in distinct_polls(polls or []) if p.ok]
    rows: dict[tuple[str, datetime], dict] = {}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for code, line in timelines(records).items():
        pieces: dict[datetime, list[Piece]] = defaultdict(list)
        for start, end, rec in intervals(line, stale):
            end = min(end, until)
            t = start
            while t < end:
                w0 = epoch + ((t - epoch) // window) * window
                piece_end = min(end, w0 + window)
                pieces[w0].append(Piece(t, piece_end, rec))
                t = piece_end
        for w0, ps in pieces.items():
            known = sum(p.seconds for p in ps)
            occ = [
                (p.seconds, p.rec.bikes_available / (p.rec.bikes_available + p.rec.docks_available))
                for p in ps
                if p.rec.bikes_available + p.rec.docks_available > 0
            ]
            last = max(ps, key=lambda p: p.end)
            at_end = last.end == w0 + window
            in_window = [r for r in line if w0 <= r.observed_at < w0 + window]
            changes = 0
            for r in in_window:
                i = line.index(r)
                if i == 0 or _state(line[i - 1]) != _state(r):
                    changes += 1
            row = {
                "seconds_known": known,
                "n_records": len(in_window),
                "n_changes": changes,
                "occupancy_seconds": sum(s for s, _ in occ),
                "occupancy_mean": sum(s * o for s, o in occ) / sum(s for s, _ in occ)
                if occ
                else None,
                "empty_share": sum(p.seconds for p in ps if p.rec.bikes_available == 0) / known,
                "full_share": sum(p.seconds for p in ps if p.rec.docks_available == 0) / known,
                "out_of_service_share": sum(
                    p.seconds for p in ps if condition(p.rec) == "out_of_service"
                )
                / known,
                "empty_at_end": (last.rec.bikes_available == 0) if at_end else None,
                "full_at_end": (last.rec.docks_available == 0) if at_end else None,
                "commune": last.rec.commune,
                "arrondissement": last.rec.arrondissement,
                "polls_seen": sum(
                    1 for p in seeing if w0 <= p.observed_at < w0 + window and code in p.listed
                ),
            }
            for short, field in (
                ("bikes", "bikes_available"),
                ("ebike", "ebike_available"),
                ("docks", "docks_available"),
            ):
                values = [(p.seconds, getattr(p.rec, field)) for p in ps]
                row[f"{short}_mean"] = sum(s * v for s, v in values) / known
                row[f"{short}_min"] = min(v for _, v in values)
                row[f"{short}_max"] = max(v for _, v in values)
            rows[(code, w0)] = row
    return rows


def _state(r: StationRecord) -> tuple:
    return (
        r.capacity,
        r.bikes_available,
        r.mechanical_available,
        r.ebike_available,
        r.docks_available,
        r.is_installed,
        r.is_renting,
        r.is_returning,
    )


def area_windows(
    stations: dict[tuple[str, datetime], dict],
    window: timedelta,
    polls: list[Poll] | None = None,
) -> dict[tuple, dict]:
    """(window start, level, area) -> area-row values rolled up from station rows."""
    seeing = [p for p in distinct_polls(polls or []) if p.ok]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for (_code, w0), row in stations.items():
        groups[(w0, "network", "all")].append(row)
        if row["commune"] is not None:
            groups[(w0, "commune", row["commune"])].append(row)
        if row["arrondissement"] is not None:
            groups[(w0, "arrondissement", str(row["arrondissement"]))].append(row)
    length = window.total_seconds()
    out = {}
    for key, rows in groups.items():
        known = sum(r["seconds_known"] for r in rows)
        occ_s = sum(r["occupancy_seconds"] for r in rows)
        out[key] = {
            "stations_known": len(rows),
            "stations_known_mean": known / length,
            "stations_known_at_end": sum(r["empty_at_end"] is not None for r in rows),
            "bikes_mean": sum(r["bikes_mean"] * r["seconds_known"] for r in rows) / known,
            "occupancy_mean": (
                sum(
                    r["occupancy_mean"] * r["occupancy_seconds"]
                    for r in rows
                    if r["occupancy_seconds"]
                )
                / occ_s
                if occ_s
                else None
            ),
            "empty_share": sum(r["empty_share"] * r["seconds_known"] for r in rows) / known,
            "stations_empty": sum(r["empty_at_end"] is True for r in rows),
            "stations_full": sum(r["full_at_end"] is True for r in rows),
            "stations_empty_mean": sum(r["empty_share"] * r["seconds_known"] for r in rows)
            / length,
            "polls": sum(1 for p in seeing if key[0] <= p.observed_at < key[0] + window),
            "stations_seen": sum(r["polls_seen"] > 0 for r in rows),
        }
    return out


def alerts(
    records: list[StationRecord], stale: timedelta, until: datetime, polls: list[Poll]
) -> set[tuple]:
    """(station, alert, previous, at) of every condition change dated before ``until``.

    ``stale`` at the first ok poll at or after last record + ``stale`` that
    brought no record of the station (none when no poll came); ``back`` at the
    first record after an emitted ``stale``.
    """
    times = sorted({p.observed_at for p in distinct_polls(polls) if p.ok})

    def first_poll(at: datetime) -> datetime | None:
        return next((t for t in times if t >= at), None)

    out = set()
    for code, line in timelines(records).items():
        prev: StationRecord | None = None
        for r in line:
            if r.observed_at >= until:
                break
            c = condition(r)
            went = None if prev is None else first_poll(prev.observed_at + stale)
            if prev is None:
                if c != "normal":
                    out.add((code, c, None, r.observed_at))
            elif went is not None and went < r.observed_at:
                out.add((code, "back", "stale", r.observed_at))
            elif c != condition(prev):
                out.add((code, c, condition(prev), r.observed_at))
            prev = r
        out |= _stale(code, line, stale, until, first_poll)
    return out


def _stale(
    code: str,
    line: list[StationRecord],
    stale: timedelta,
    until: datetime,
    first_poll: Callable[[datetime], datetime | None],
) -> set[tuple]:
    """A station's ``stale`` alerts: the first poll past each record's threshold, not renewed."""
    out = set()
    for i, r in enumerate(line):
        nxt = line[i + 1].observed_at if i + 1 < len(line) else None
        at = first_poll(r.observed_at + stale)
        if at is not None and (nxt is None or nxt > at) and at < until:
            out.add((code, "stale", condition(r), at))
    return out


def seen_before(
    alerts: set[tuple], polls: list[Poll]
) -> dict[tuple[str, str, datetime], datetime | None]:
    """(station, alert, at) -> the station's last ok poll strictly before ``at``, or None."""
    seeing = [p for p in distinct_polls(polls) if p.ok]
    out = {}
    for code, alert, _previous, at in alerts:
        times = [p.observed_at for p in seeing if code in p.listed and p.observed_at < at]
        out[(code, alert, at)] = max(times) if times else None
    return out
