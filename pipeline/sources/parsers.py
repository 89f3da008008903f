"""Parsers of every Vélib' payload format into normalized snapshots.

A :class:`Snapshot` is everything one poll or one recorded file says about the
stations at one moment, already normalized (see :mod:`pipeline.sources.normalize` for
the validation rules and the commune / arrondissement rule). The live feeds
(:mod:`pipeline.sources.feeds`) and the recorded files (:mod:`pipeline.sources.recorded`) both
go through these functions, so a quirk is handled once.

Observed time (``observed_at``) per format:
- GBFS: the feed's ``lastUpdatedOther`` (``last_updated`` in standard GBFS).
- open-data CSV export: the UTC time in the file name when it has one
  (``...2022-05-12T102218Z...``, the recorder's commit time), else the latest
  ``Actualisation de la donnée`` of the file.
- the seed's v1 records table: it has no poll time, so rows are split into polls
  (a new poll starts when a station repeats) and each poll is stamped with the
  latest ``duedate`` seen so far plus its poll index in microseconds, which keeps
  polls strictly ordered (needed to resume exactly after a restart).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.record import StationRecord, placeholder_code
from pipeline.sources.normalize import (
    RawStation,
    Reference,
    Rejection,
    RowError,
    collect,
    default_reference,
    epoch_to_utc,
    make_record,
    paris_local_to_utc,
    parse_latlon,
    to_float,
)

EXCERPT_CHARS = 300
# Columns of the open-data export, shared with the reference-table builder.
ID_COLUMN, COMMUNE_COLUMN = "Identifiant station", "Nom communes équipées"


@dataclass
class Snapshot:
    """All stations of one poll or one recorded file, normalized."""

    observed_at: datetime
    source: str
    origin: str
    records: list[StationRecord]
    rejects: list[Rejection]
    oddities: dict[str, int] = field(default_factory=dict)
    unmapped_ids: int = 0
    polled_at: datetime | None = None  # wall time of a live poll (the archive keeps it)
    feed_time: datetime | None = None  # the payload's own last_updated, when it has one
    digest: str | None = None  # sha256 of a recorded file's content: tells a re-read by bytes
    reread: str | None = None  # why the answer observed nothing new (pipeline.sources.sequence)


class SnapshotError(ValueError):
    """A whole payload that cannot be read (its message is the reason).

    A failed live poll also keeps what the server said (the archive records it).
    """

    status: int | None = None
    body_head: str | None = None


def failed_snapshot(
    reason: str,
    raw: Any,
    origin: str,
    observed_at: datetime,
    source: str,
    polled_at: datetime | None = None,
) -> Snapshot:
    """Build a snapshot that is only one dead-letter entry, so the loop goes on."""
    excerpt = raw[:EXCERPT_CHARS] if isinstance(raw, (str, bytes)) else raw
    if isinstance(excerpt, bytes):
        excerpt = excerpt.decode("utf-8", "replace")
    rejects = [Rejection(reason, excerpt, origin)]
    return Snapshot(observed_at, source, origin, [], rejects, polled_at=polled_at)


# --- GBFS ------------------------------------------------------------------


def _stations(payload: Any, what: str) -> list[Mapping[str, Any]]:
    try:
        stations = payload["data"]["stations"]
    except (TypeError, KeyError):
        raise SnapshotError(f"GBFS {what} without data.stations") from None
    if not isinstance(stations, list):
        raise SnapshotError(f"GBFS {what}: data.stations is not a list")
    return stations


def feed_time(payload: Any) -> datetime | None:
    """Return the feed time of a GBFS payload (Vélib' uses lastUpdatedOther)."""
    if not isinstance(payload, Mapping):
        return None
    value = payload.get("lastUpdatedOther", payload.get("last_updated"))
    try:
        return epoch_to_utc(value, "feed time") if value is not None else None
    except RowError:
        return None


def _bike_types(types: Any) -> tuple[Any, Any]:
    """[{'mechanical': 1}, {'ebike': 4}] (Vélib') or {'mechanical': 1, ...} to counts."""
    merged: dict[str, Any] = {}
    if isinstance(types, list):
        for item in types:
            if isinstance(item, Mapping):
                merged.update(item)
    elif isinstance(types, Mapping):
        merged = dict(types)
    return merged.get("mechanical"), merged.get("ebike")


def parse_gbfs(
    information: Any,
    status: Any,
    *,
    origin: str,
    source: str = "gbfs",
    observed_at: datetime | None = None,
    ref: Reference | None = None,
) -> Snapshot:
    """Join station_information and station_status on station_id into one snapshot.

    Raises:
        SnapshotError: the status payload is not a GBFS station list.

    """
    ref = ref or default_reference()
    statuses = _stations(status, "station_status")
    infos = _stations(information, "station_information") if information is not None else []
    info_by_id = {s.get("station_id"): s for s in infos if isinstance(s, Mapping)}
    when = observed_at or feed_time(status) or datetime.now(UTC)

    def build(raw: Any) -> StationRecord:
        if not isinstance(raw, Mapping):
            raise RowError("station entry is not an object")
        sid = raw.get("station_id")
        info = info_by_id.get(sid, {})
        code = raw.get("stationCode") or info.get("stationCode")
        if not code and isinstance(sid, int):
            code = ref.codes_by_id.get(sid)
        mechanical, ebike = _bike_types(raw.get("num_bikes_available_types"))
        bikes = raw.get("num_bikes_available", raw.get("numBikesAvailable"))
        station = RawStation(
            code=code,
            station_id=sid if isinstance(sid, int) else None,
            name=info.get("name"),
            lat=to_float(info.get("lat")),
            lon=to_float(info.get("lon")),
            capacity=info.get("capacity"),
            bikes=bikes,
            mechanical=mechanical,
            ebike=ebike,
            docks=raw.get("num_docks_available", raw.get("numDocksAvailable")),
            installed=raw.get("is_installed"),
            renting=raw.get("is_renting"),
            returning=raw.get("is_returning"),
            last_reported=epoch_to_utc(raw.get("last_reported"), "last_reported"),
        )
        return make_record(station, observed_at=when, source=source, ref=ref)

    records, rejects, odd = collect(statuses, build, origin)
    return Snapshot(when, source, origin, records, rejects, odd, feed_time=feed_time(status))


# --- open-data CSV export (four layouts) and API records (v1 / v2.1) --------

_ID, _LATLON = ID_COLUMN, "Coordonnées géographiques"
_OPENDATA_REQUIRED = (
    _ID,
    "Nom station",
    "Station en fonctionnement",
    "Nombre bornettes libres",
    "Nombre total vélos disponibles",
    "Borne de paiement disponible",
    "Retour vélib possible",
    "Actualisation de la donnée",
)  # (mechanical/e-bike counts, capacity and commune may be absent: they become null)
_API_REQUIRED = ("stationcode", "numbikesavailable", "numdocksavailable", "duedate")

# RawStation field -> column, for the values each open-data form carries as they are
# (ids, coordinates and timestamps need more than a lookup and are handled in the builders).
_CSV_COLUMNS = {
    "name": "Nom station",
    "capacity": "Capacité de la station",
    "bikes": "Nombre total vélos disponibles",
    "mechanical": "Vélos mécaniques disponibles",
    "ebike": "Vélos électriques disponibles",
    "docks": "Nombre bornettes libres",
    "installed": "Station en fonctionnement",
    "renting": "Borne de paiement disponible",
    "returning": "Retour vélib possible",
    "commune": COMMUNE_COLUMN,
}
_API_COLUMNS = {
    "name": "name",
    "capacity": "capacity",
    "bikes": "numbikesavailable",
    "mechanical": "mechanical",
    "ebike": "ebike",
    "docks": "numdocksavailable",
    "installed": "is_installed",
    "renting": "is_renting",
    "returning": "is_returning",
    "commune": "nom_arrondissement_communes",
}


def _columns(raw: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    return {arg: raw.get(column) for arg, column in columns.items()}


def parse_opendata_csv(
    text: str,
    *,
    origin: str,
    observed_at: datetime | None = None,
    ref: Reference | None = None,
    source: str = "replay:opendata-csv",
) -> Snapshot:
    """One open-data CSV export, any of its layouts, read by column name.

    The id column holds GBFS station_ids in the May 2022 layouts and station
    codes later; which one is decided per file by which table knows more of its
    ids. GBFS ids with no known code are kept as ``station_id`` with the code
    ``id:<station_id>`` and counted in ``unmapped_ids``.

    Raises:
        SnapshotError: not a CSV of a known layout.

    """
    ref = ref or default_reference()
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0].keys()) if rows else next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in _OPENDATA_REQUIRED if c not in header]
    has_coords = _LATLON in header or ("Lattitude" in header and "Longitude" in header)
    if missing or not has_coords:
        raise SnapshotError(
            f"unknown CSV layout (missing {', '.join(missing) or 'coordinates'}); "
            f"header: {','.join(h or '' for h in header)[:200]}"
        )
    ids = [r[_ID] for r in rows]
    as_ids = sum(1 for i in ids if i.isdigit() and int(i) in ref.codes_by_id)
    known = ref.known_codes
    as_codes = sum(1 for i in ids if i in known)
    gbfs_ids = as_ids > as_codes
    when = observed_at
    if when is None:
        stamps = [r["Actualisation de la donnée"] for r in rows if r["Actualisation de la donnée"]]
        try:
            when = paris_local_to_utc(max(stamps), "file time") if stamps else None
        except RowError:
            when = None
        when = when or datetime.now(UTC)
    unmapped = 0

    def build(raw: dict[str, str]) -> StationRecord:
        nonlocal unmapped
        ident = (raw.get(_ID) or "").strip()
        sid: int | None = None
        code: str | None = ident
        if gbfs_ids and ident.isdigit():
            sid = int(ident)
            code = ref.codes_by_id.get(sid)
            if code is None:
                unmapped += 1
                code = placeholder_code(sid)
        if _LATLON in raw:
            lat, lon = parse_latlon(raw[_LATLON])
        else:
            lat, lon = to_float(raw.get("Lattitude")), to_float(raw.get("Longitude"))
        station = RawStation(
            code=code,
            station_id=sid,
            lat=lat,
            lon=lon,
            last_reported=paris_local_to_utc(
                raw.get("Actualisation de la donnée"), "last_reported"
            ),
            **_columns(raw, _CSV_COLUMNS),
        )
        return make_record(station, observed_at=when, source=source, ref=ref)

    records, rejects, odd = collect(rows, build, origin)
    return Snapshot(when, source, origin, records, rejects, odd, unmapped)


def api_record_builder(
    observed_at: datetime, source: str, ref: Reference
) -> Callable[[Any], StationRecord]:
    """Row builder for open-data API records (v1 and v2.1 share the field names)."""

    def build(raw: Any) -> StationRecord:
        if not isinstance(raw, Mapping):
            raise RowError("record is not an object")
        lat, lon = parse_latlon(raw.get("coordonnees_geo"))
        station = RawStation(
            code=raw.get("stationcode"),
            lat=lat,
            lon=lon,
            last_reported=paris_local_to_utc(raw.get("duedate"), "duedate"),
            **_columns(raw, _API_COLUMNS),
        )
        return make_record(station, observed_at=observed_at, source=source, ref=ref)

    return build


def parse_opendata_records(
    records: Sequence[Mapping[str, Any]],
    *,
    origin: str,
    observed_at: datetime,
    ref: Reference | None = None,
    source: str = "opendata",
) -> Snapshot:
    """One poll of the open-data records API (v2.1 ``results`` or v1 ``fields``)."""
    ref = ref or default_reference()
    rows = [r.get("fields", r) if isinstance(r, Mapping) else r for r in records]
    build = api_record_builder(observed_at, source, ref)
    kept, rejects, odd = collect(rows, build, origin)
    return Snapshot(observed_at, source, origin, kept, rejects, odd)


def parse_v1_table(
    text: str,
    *,
    origin: str,
    ref: Reference | None = None,
    source: str = "replay:opendata-v1",
) -> list[Snapshot]:
    """Split the seed's table of v1 records into its polls (see module docstring).

    The seed appended the same polls again and again, so its row order is not
    time order: a row repeated verbatim (same duedate too) from an earlier poll
    says nothing new and is dropped (counted as ``repeated_rows_dropped``);
    replaying it would turn old states into false "changes".

    Raises:
        SnapshotError: the header lacks the v1 fields.

    """
    ref = ref or default_reference()
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0].keys()) if rows else []
    if any(c not in header for c in _API_REQUIRED):
        raise SnapshotError(f"unknown CSV layout; header: {','.join(header)[:200]}")
    polls: list[list[dict[str, str]]] = []
    seen: set[str] = set()
    for row in rows:
        if not polls or row["stationcode"] in seen:
            polls.append([])
            seen = set()
        polls[-1].append(row)
        seen.add(row["stationcode"])
    snapshots: list[Snapshot] = []
    latest: datetime | None = None
    earlier: set[tuple[tuple[str, str], ...]] = set()
    for index, poll in enumerate(polls):
        fresh = []
        for row in poll:
            key = tuple(row.items())
            if key not in earlier:
                earlier.add(key)
                fresh.append(row)
        for row in poll:
            try:
                due = paris_local_to_utc(row["duedate"], "duedate")
            except RowError:
                continue
            latest = due if latest is None or due > latest else latest
        when = (latest or datetime.now(UTC)) + timedelta(microseconds=index)
        snap = parse_opendata_records(
            fresh, origin=f"{origin}#poll{index}", observed_at=when, ref=ref, source=source
        )
        snap.oddities["repeated_rows_dropped"] = len(poll) - len(fresh)
        snapshots.append(snap)
    return snapshots
