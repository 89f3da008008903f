"""GBFS station ids that no station_information file knows, given their code from the recordings.

The May 2022 open-data files key stations by GBFS ``station_id`` (with
``Lattitude``/``Longitude`` and a name); the 2022-06-03 files key them by
station code (with ``Coordonnées géographiques`` = "lat,lon"); the GBFS
``station_information`` files carry id, code, name and position. An id that
``station_ids.csv`` (built from the GBFS files) lacks is matched to a code by
position and name, conservatively:

* candidates are the coded stations of the code-keyed open-data files (tier 1,
  the same weeks) and, only when tier 1 has no usable one within
  :data:`SAME_NAME_M`, those of the GBFS files (tier 2, years later: several
  stations came back nearby under a new code);
* a code is *blocked* for id X when an id that already holds it is reported in
  one snapshot together with X: two stations reported at once are two stations;
* X gets code C when C is the only unblocked code of the tier within
  :data:`SAME_NAME_M` and either the names are equal after
  :func:`~pipeline.sources.names.name_key` (rule ``same-name``) or C is within
  :data:`SAME_POSITION_M` (rule ``same-position``);
* two ids given one code are both dropped if they are in a snapshot together.

Everything else stays unmapped, with the reason. Measured on the two-week
history (``data/reference/README.md``): each of the 1,379 ids that both the GBFS
table and the June 2022 files know is at exactly its code's June position
(0.00 m) under the same name, and distinct June stations are at least 19.1 m
apart, so 15 m cannot reach a neighbour.

The core, :func:`match_ids`, is pure; :func:`observe` and :func:`gbfs_stations`
turn file contents into its inputs; ``build_reference_tables`` in
:mod:`pipeline.sources.recorded` runs it and writes ``station_ids_derived.csv``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sources.names import name_key
from pipeline.sources.parsers import ID_COLUMN

SAME_POSITION_M = 1.0  # names differ: the coordinates must be the same point
SAME_NAME_M = 15.0  # names equal: below the 19.1 m minimum spacing of distinct stations
SEARCH_M = 100.0  # how far the reason of an unmapped id looks for the nearest coded station
TIER_OPENDATA, TIER_GBFS = 1, 2
NAME_COLUMN, LATLON_COLUMN = "Nom station", "Coordonnées géographiques"
COLUMNS = ("station_id", "station_code", "rule", "distance_m", "id_name", "code_name", "source")
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class IdObservation:
    """One GBFS station_id as the id-keyed open-data files report it."""

    station_id: int
    name: str  # its most frequent name, stripped
    lat: float | None  # its most frequent numeric position
    lon: float | None
    rows: int
    snapshots: frozenset[str]  # names of the files it is in


@dataclass(frozen=True)
class CodedStation:
    """A station with a known code and position, from one source."""

    code: str
    name: str
    lat: float
    lon: float
    source: str  # "opendata:2022-06-03", "gbfs:2024-11-19"
    tier: int


@dataclass(frozen=True)
class DerivedId:
    """One row of ``station_ids_derived.csv``, with its evidence."""

    station_id: int
    station_code: str
    rule: str  # "same-name" or "same-position"
    distance_m: float
    id_name: str  # the id's name in the id-keyed files
    code_name: str  # the code's name in ``source``
    source: str
    rows: int  # rows of the id in the files read

    def row(self) -> tuple[Any, ...]:
        """The CSV row, in :data:`COLUMNS` order."""
        return (
            self.station_id,
            self.station_code,
            self.rule,
            f"{self.distance_m:.2f}",
            self.id_name,
            self.code_name,
            self.source,
        )


@dataclass(frozen=True)
class Unmapped:
    """An id that keeps its placeholder code ``id:<station_id>``, and why."""

    station_id: int
    name: str
    lat: float | None
    lon: float | None
    rows: int
    reason: str


@dataclass(frozen=True)
class Derivation:
    """The derived rows and the ids left unmapped, both sorted by station_id."""

    derived: tuple[DerivedId, ...]
    unmapped: tuple[Unmapped, ...]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class _Grid:
    """Coded stations in cells of about 110 m, to find neighbours within SEARCH_M."""

    DLAT, DLON = 0.001, 0.0015  # ~111 m x ~110 m at the latitude of Paris

    def __init__(self, stations: Iterable[CodedStation]) -> None:
        self.cells: dict[tuple[int, int], list[CodedStation]] = defaultdict(list)
        for s in stations:
            self.cells[self._cell(s.lat, s.lon)].append(s)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.DLAT), math.floor(lon / self.DLON)

    def near(self, lat: float, lon: float) -> list[tuple[float, CodedStation]]:
        """Stations within SEARCH_M, nearest first (ties by tier, code, source)."""
        ci, cj = self._cell(lat, lon)
        found = [
            (distance_m(lat, lon, s.lat, s.lon), s)
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            for s in self.cells.get((ci + di, cj + dj), ())
        ]
        found = [x for x in found if x[0] <= SEARCH_M]
        return sorted(found, key=lambda x: (x[0], x[1].tier, x[1].code, x[1].source))


def _listed(usable: Mapping[str, tuple[float, CodedStation]]) -> str:
    return ", ".join(f"{c} {s.name!r} {d:.1f} m" for c, (d, s) in sorted(usable.items()))


def _decide(
    obs: IdObservation, near: list[tuple[float, CodedStation]], blockers: Mapping[str, list[int]]
) -> DerivedId | str:
    """The derived row of one id, or the reason it stays unmapped."""
    key = name_key(obs.name)
    for tier in (TIER_OPENDATA, TIER_GBFS):
        usable: dict[str, tuple[float, CodedStation]] = {}
        for d, s in near:  # nearest first: the first station of a code is its nearest
            if s.tier == tier and s.code not in blockers and d <= SAME_NAME_M:
                usable.setdefault(s.code, (d, s))
        if not usable:
            continue
        if len(usable) > 1:
            return f"ambiguous: {len(usable)} codes within {SAME_NAME_M:g} m ({_listed(usable)})"
        ((code, (d, s)),) = usable.items()
        if name_key(s.name) == key:
            rule = "same-name"
        elif d <= SAME_POSITION_M:
            rule = "same-position"
        else:
            return (
                f"other name: the only code within {SAME_NAME_M:g} m has another name "
                f"and is over {SAME_POSITION_M:g} m away ({_listed(usable)})"
            )
        return DerivedId(
            obs.station_id, code, rule, round(d, 2), obs.name, s.name, s.source, obs.rows
        )
    if not near:
        return f"none within {SEARCH_M:g} m"
    d, s = near[0]
    reason = (
        f"none within {SAME_NAME_M:g} m: nearest coded station {s.code} {s.name!r} "
        f"({s.source}) at {d:.1f} m"
    )
    if s.code in blockers:
        holders = ",".join(str(i) for i in blockers[s.code])
        reason += f", and its code is held by id {holders} in the same snapshots"
    return reason


def match_ids(
    observations: Mapping[int, IdObservation],
    coded: Sequence[CodedStation],
    known: Mapping[int, str],
    targets: Iterable[int] | None = None,
) -> Derivation:
    """Match the ids that ``known`` lacks (or ``targets``) to station codes.

    Args:
        observations: every id of the id-keyed files, mapped or not (the mapped
            ones tell which codes are reported beside an id).
        coded: coded stations with positions, of both tiers.
        known: the GBFS table, station_id -> station_code.
        targets: the ids to match (default: the observed ids ``known`` lacks).

    """
    grid = _Grid(coded)
    holders_of: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
    for sid, obs in observations.items():
        if sid in known:
            holders_of[known[sid]].append((sid, obs.snapshots))
    wanted = sorted(targets if targets is not None else set(observations) - set(known))
    derived: list[DerivedId] = []
    unmapped: list[Unmapped] = []
    for sid in wanted:
        obs = observations[sid]
        if obs.lat is None or obs.lon is None:
            unmapped.append(Unmapped(sid, obs.name, None, None, obs.rows, "no coordinates"))
            continue
        near = grid.near(obs.lat, obs.lon)
        outcome = _decide(obs, near, _blockers(sid, obs, near, holders_of))
        if isinstance(outcome, DerivedId):
            derived.append(outcome)
        else:
            unmapped.append(Unmapped(sid, obs.name, obs.lat, obs.lon, obs.rows, outcome))
    dropped = _clashes(derived, observations)
    for sid, reason in dropped.items():
        obs = observations[sid]
        unmapped.append(Unmapped(sid, obs.name, obs.lat, obs.lon, obs.rows, reason))
    return Derivation(
        tuple(sorted((r for r in derived if r.station_id not in dropped), key=_id)),
        tuple(sorted(unmapped, key=_id)),
    )


def _blockers(
    sid: int,
    obs: IdObservation,
    near: Sequence[tuple[float, CodedStation]],
    holders_of: Mapping[str, list[tuple[int, frozenset[str]]]],
) -> dict[str, list[int]]:
    """Code -> the other ids that hold it in a snapshot where ``sid`` is seen too."""
    blockers: dict[str, list[int]] = {}
    for _, s in near:
        held = sorted(
            other
            for other, snaps in holders_of.get(s.code, ())
            if other != sid and snaps & obs.snapshots
        )
        if held:
            blockers[s.code] = held
    return blockers


def _clashes(
    derived: Sequence[DerivedId], observations: Mapping[int, IdObservation]
) -> dict[int, str]:
    """Ids given one code that are seen in the same snapshot: neither keeps it (id -> why)."""
    by_code: dict[str, list[DerivedId]] = defaultdict(list)
    for row in derived:
        by_code[row.station_code].append(row)
    dropped: dict[int, str] = {}
    for code, rows in by_code.items():
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                if observations[a.station_id].snapshots & observations[b.station_id].snapshots:
                    for row in (a, b):
                        dropped[row.station_id] = (
                            f"code {code} also derived for another id in the same snapshot"
                        )
    return dropped


def _id(row: DerivedId | Unmapped) -> int:
    return row.station_id


# --- file contents -> inputs of the rule ------------------------------------------------


def _most_frequent(counts: Counter[Any]) -> Any:
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def observe(
    files: Iterable[tuple[str, str, str]],
) -> tuple[dict[int, IdObservation], list[CodedStation]]:
    """Id observations and tier-1 coded stations of open-data CSV files.

    Args:
        files: ``(file name, source label, CSV text)``; the label names a
            code-keyed file's stations (``opendata:2022-06-03``), the first file
            of a label wins for a code. Files of other layouts are skipped;
            non-numeric coordinates (one file has the scraper's town there) are
            not positions.

    """
    rows: Counter[int] = Counter()
    names: dict[int, Counter[str]] = defaultdict(Counter)
    positions: dict[int, Counter[tuple[float, float]]] = defaultdict(Counter)
    snaps: dict[int, set[str]] = defaultdict(set)
    coded: dict[tuple[str, str], CodedStation] = {}
    for file_name, source, text in files:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        by_code = LATLON_COLUMN in header
        if not by_code and not {"Lattitude", "Longitude"} <= set(header):
            continue
        for raw in reader:
            ident = (raw.get(ID_COLUMN) or "").strip()
            name = (raw.get(NAME_COLUMN) or "").strip()
            if by_code:
                parts = (raw.get(LATLON_COLUMN) or "").split(",")
                lat, lon = (_number(p) for p in parts) if len(parts) == 2 else (None, None)
                if ident and lat is not None and lon is not None:
                    station = CodedStation(ident, name, lat, lon, source, TIER_OPENDATA)
                    coded.setdefault((ident, source), station)
            elif ident.isdigit():
                sid = int(ident)
                rows[sid] += 1
                names[sid][name] += 1
                snaps[sid].add(file_name)
                lat, lon = _number(raw.get("Lattitude")), _number(raw.get("Longitude"))
                if lat is not None and lon is not None:
                    positions[sid][(lat, lon)] += 1
    observations = {}
    for sid in sorted(rows):
        lat, lon = _most_frequent(positions[sid]) if positions[sid] else (None, None)
        observations[sid] = IdObservation(
            sid, _most_frequent(names[sid]), lat, lon, rows[sid], frozenset(snaps[sid])
        )
    return observations, sorted(coded.values(), key=lambda s: (s.code, s.source))


def gbfs_stations(payload: Mapping[str, Any], source: str) -> list[CodedStation]:
    """Tier-2 coded stations of one GBFS ``station_information`` payload."""
    out = []
    for s in payload["data"]["stations"]:
        lat, lon = _number(s.get("lat")), _number(s.get("lon"))
        if s.get("stationCode") and lat is not None and lon is not None:
            name = str(s.get("name") or "")
            out.append(CodedStation(str(s["stationCode"]), name, lat, lon, source, TIER_GBFS))
    return sorted(out, key=lambda s: (s.code, s.source))


def write_derived(derivation: Derivation, path: Path) -> None:
    """``station_ids_derived.csv``: :data:`COLUMNS`, sorted by station_id, LF line ends."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(r.row() for r in derivation.derived)
