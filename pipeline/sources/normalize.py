"""Normalize raw Vélib' rows of any source into StationRecord, or reject them.

Each source has its own row shape (GBFS status + information, the open-data CSV
export in its four layouts, open-data API records v1/v2.1), but all end up in
:class:`~pipeline.record.StationRecord` through :func:`make_record`, which is
where the trust rules live: a row that cannot be trusted becomes a
:class:`Rejection` (sent to the dead-letter topic), never an exception.

Commune / arrondissement rule (measured on the real files, see
``data/reference/README.md``): the commune comes from the reference table
``data/reference/station_communes.csv`` (built from the 2022-06-03 open-data
files' ``Nom communes équipées`` and the seed's ``nom_arrondissement_communes``).
A station missing from the table whose numeric code has a thousands-prefix
``int(code[:-3])`` in 1..20 is in Paris. ``arrondissement`` is that prefix when
the commune is Paris, else null: prefixes 1-20 are Paris except a few border
stations (Saint-Mandé, Ivry, Montrouge, Malakoff, Pantin) that the table catches.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, overload

from pipeline.clock import PARIS
from pipeline.record import StationRecord, format_timestamp, parse_timestamp
from pipeline.settings import project

log = logging.getLogger(__name__)

REFERENCE_DIR = project.ROOT / "data" / "reference"
STATION_IDS, DERIVED_STATION_IDS = "station_ids.csv", "station_ids_derived.csv"
STATION_COMMUNES = "station_communes.csv"

MAX_COUNT = 300  # the largest real station has ~75 docks; anything above is garbage
FUTURE_TOLERANCE = timedelta(minutes=10)  # clock skew between station and feed
OLD_REPORT_AFTER = timedelta(days=1)  # a station report older: real (back to 2018), flagged

_TRUE = {"1": True, "0": False, "OUI": True, "NON": False, "TRUE": True, "FALSE": False}


class RowError(ValueError):
    """A row that cannot be trusted; its message is the rejection reason."""


@dataclass(frozen=True)
class Rejection:
    """One rejected input: why, what, and where it came from."""

    reason: str
    raw: Any
    origin: str


# --- reference tables ------------------------------------------------------


@dataclass
class Reference:
    """Lookup tables that the feeds do not carry in every layout.

    Attributes:
        communes: station_code -> commune name.
        codes_by_id: GBFS station_id -> station_code.

    """

    communes: dict[str, str] = field(default_factory=dict)
    codes_by_id: dict[int, str] = field(default_factory=dict)

    @property
    def known_codes(self) -> set[str]:
        """Every station code either table knows (to tell codes from GBFS ids)."""
        return set(self.communes) | set(self.codes_by_id.values())

    def locate(self, code: str) -> tuple[str | None, int | None]:
        """Commune and arrondissement of a station code (the module's rule)."""
        prefix = _prefix(code)
        commune = self.communes.get(code)
        if commune is None and prefix is not None and 1 <= prefix <= 20:
            commune = "Paris"
        if commune == "Paris" and prefix is not None and 1 <= prefix <= 20:
            return commune, prefix
        return commune, None


@lru_cache(maxsize=2048)
def _prefix(code: str) -> int | None:
    if not code.isdigit() or len(code) < 4:
        return None
    return int(code[:-3])


def load_reference(directory: Path = REFERENCE_DIR) -> Reference:
    """Read the reference CSVs; missing files give empty tables (logged once).

    The GBFS ids come from ``station_ids.csv`` (the operator's own pairing) and
    ``station_ids_derived.csv`` (ids only the open-data files know, matched by
    position and name: :mod:`pipeline.sources.stationids`); the GBFS row wins
    where both name an id.
    """
    ref = Reference()
    communes = directory / STATION_COMMUNES
    ids = directory / STATION_IDS
    if communes.exists():
        with communes.open(encoding="utf-8", newline="") as fh:
            ref.communes = {r["station_code"]: r["commune"] for r in csv.DictReader(fh)}
    else:
        log.warning("no %s: communes only from the code-prefix rule", communes)
    if ids.exists():
        with ids.open(encoding="utf-8", newline="") as fh:
            ref.codes_by_id = {int(r["station_id"]): r["station_code"] for r in csv.DictReader(fh)}
    else:
        log.warning("no %s: GBFS ids in open-data files stay unmapped", ids)
    derived = directory / DERIVED_STATION_IDS
    if derived.exists():
        with derived.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                ref.codes_by_id.setdefault(int(r["station_id"]), r["station_code"])
    return ref


_DEFAULT_REF: Reference | None = None


def default_reference() -> Reference:
    """Return the project's reference tables, loaded once per process."""
    global _DEFAULT_REF
    if _DEFAULT_REF is None:
        _DEFAULT_REF = load_reference()
    return _DEFAULT_REF


# --- value converters (raise RowError with a readable reason) --------------


@overload
def to_count(value: Any, name: str, *, required: Literal[True] = ...) -> int: ...


@overload
def to_count(value: Any, name: str, *, required: bool) -> int | None: ...


def to_count(value: Any, name: str, *, required: bool = True) -> int | None:
    """Parse a non-negative count below MAX_COUNT."""
    if value is None or value == "":
        if required:
            raise RowError(f"missing {name}")
        return None
    try:
        number = int(value) if not isinstance(value, float) else int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise RowError(f"unparseable {name} ({value!r})") from None
    if number < 0:
        raise RowError(f"negative {name} ({number})")
    if number > MAX_COUNT:
        raise RowError(f"{name} above {MAX_COUNT} ({number})")
    return number


def to_flag(value: Any, name: str) -> bool:
    """1/0, OUI/NON, true/false (the feeds use all three)."""
    if isinstance(value, bool):
        return value
    flag = _TRUE.get(str(value).strip().upper())
    if flag is None:
        raise RowError(f"unparseable {name} ({value!r})")
    return flag


def to_float(value: Any) -> float | None:
    """Parse a coordinate; None when absent or garbage (not a reason to reject)."""
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def epoch_to_utc(value: Any, name: str) -> datetime:
    """GBFS epoch seconds to an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise RowError(f"unparseable {name} ({value!r})") from None


@lru_cache(maxsize=65536)
def _paris_to_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


def paris_local_to_utc(value: Any, name: str) -> datetime:
    """Convert a naive Paris time (open-data CSV) to UTC; offsets are honoured."""
    text = str(value or "").strip()
    try:
        if text[-6:-5] in ("+", "-") or text.endswith("Z"):
            return parse_timestamp(text)
        return _paris_to_utc(text)
    except (ValueError, IndexError):
        raise RowError(f"unparseable {name} ({value!r})") from None


def parse_latlon(value: Any) -> tuple[float | None, float | None]:
    """'lat,lon', '[lat, lon]', [lat, lon] or {'lat':..,'lon':..} to floats."""
    if isinstance(value, Mapping):
        return to_float(value.get("lat")), to_float(value.get("lon"))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return to_float(value[0]), to_float(value[1])
    if isinstance(value, str):
        parts = value.strip().strip("[]").split(",")
        if len(parts) == 2:
            return to_float(parts[0].strip()), to_float(parts[1].strip())
    return None, None


# --- the one place a record is built ---------------------------------------


@dataclass(slots=True)
class RawStation:
    """One station's values as a source gives them, before any check.

    Every parser fills one from its own row shape (GBFS status + information,
    the open-data CSV layouts, API records); :func:`make_record` is where they
    are trusted or rejected. Counts and flags stay as the source wrote them.
    Not frozen: one is built per row of every snapshot, and slots alone keep it cheap.
    """

    code: Any
    last_reported: datetime
    station_id: int | None = None
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    capacity: Any = None
    bikes: Any = None
    mechanical: Any = None
    ebike: Any = None
    docks: Any = None
    installed: Any = None
    renting: Any = None
    returning: Any = None
    commune: str | None = None


def make_record(
    raw: RawStation, *, observed_at: datetime, source: str, ref: Reference
) -> StationRecord:
    """Validate and build one record of a snapshot; raises RowError with the rejection reason.

    Args:
        raw: the station's values as its source gave them.
        observed_at: when the snapshot was taken (UTC).
        source: the source label (``gbfs``, ``opendata``, ``replay:<format>``).
        ref: the reference tables (commune, arrondissement, codes by GBFS id).
    """
    code = "" if raw.code is None else str(raw.code).strip()
    if not code:
        raise RowError("missing station code")
    last_reported = raw.last_reported
    if last_reported > observed_at + FUTURE_TOLERANCE:
        raise RowError(
            f"last_reported {format_timestamp(last_reported)} in the future of "
            f"observed_at {format_timestamp(observed_at)}"
        )
    located_commune, arrondissement = ref.locate(code)
    return StationRecord(
        station_code=code,
        station_id=raw.station_id,
        name=raw.name or None,
        lat=raw.lat,
        lon=raw.lon,
        capacity=to_count(raw.capacity, "capacity", required=False),
        commune=located_commune or raw.commune,
        arrondissement=arrondissement,
        bikes_available=to_count(raw.bikes, "bikes_available"),
        mechanical_available=to_count(raw.mechanical, "mechanical_available", required=False),
        ebike_available=to_count(raw.ebike, "ebike_available", required=False),
        docks_available=to_count(raw.docks, "docks_available"),
        is_installed=to_flag(raw.installed, "is_installed"),
        is_renting=to_flag(raw.renting, "is_renting"),
        is_returning=to_flag(raw.returning, "is_returning"),
        last_reported=last_reported,
        observed_at=observed_at,
        source=source,
    )


def collect(
    rows: Any,
    build: Callable[[Any], StationRecord],
    origin: str,
) -> tuple[list[StationRecord], list[Rejection], dict[str, int]]:
    """Build every row, then apply the per-snapshot rules.

    Returns the kept records, the rejections, and counts of real oddities that
    are kept but flagged (capacity 0, bikes + docks != capacity, stale report,
    identical duplicate rows).
    """
    records: list[StationRecord] = []
    raws: list[Any] = []
    rejects: list[Rejection] = []
    for raw in rows:
        try:
            records.append(build(raw))
            raws.append(raw)
        except RowError as exc:
            rejects.append(Rejection(str(exc), raw, origin))
    return _dedupe(records, raws, rejects, origin)


def _dedupe(
    records: list[StationRecord], raws: list[Any], rejects: list[Rejection], origin: str
) -> tuple[list[StationRecord], list[Rejection], dict[str, int]]:
    """Drop identical duplicates; reject every copy of a station seen with different values."""
    oddities = {
        "capacity_zero": 0,
        "bikes_docks_ne_capacity": 0,
        "stale_last_reported": 0,
        "duplicate_identical": 0,
    }
    first: dict[str, StationRecord] = {}
    conflicted: set[str] = set()
    for record in records:
        seen = first.setdefault(record.station_code, record)
        if seen is record:
            continue
        if seen == record:
            oddities["duplicate_identical"] += 1
        else:
            conflicted.add(record.station_code)
    for record, raw in zip(records, raws, strict=True):
        if record.station_code in conflicted:
            rejects.append(
                Rejection(
                    f"station {record.station_code} duplicated in one snapshot "
                    "with different values",
                    raw,
                    origin,
                )
            )
    out = [r for code, r in first.items() if code not in conflicted]
    for record in out:
        if record.capacity == 0:
            oddities["capacity_zero"] += 1
        elif record.capacity is not None and (
            record.bikes_available + record.docks_available != record.capacity
        ):
            oddities["bikes_docks_ne_capacity"] += 1
        if record.observed_at - record.last_reported > OLD_REPORT_AFTER:
            oddities["stale_last_reported"] += 1
    return out, rejects, oddities
