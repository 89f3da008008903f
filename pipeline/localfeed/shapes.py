"""Recorded Vélib' snapshots rewritten into the shapes live feeds put on the wire.

The local feed (:mod:`pipeline.localfeed.server`) answers with these shapes: GBFS
``station_information`` and ``station_status``, open-data Explore API v2.1
records, and the error bodies real gateways send. Conversions work on the raw
recorded values, not on parsed records: a value that does not convert is
passed on as recorded, so a served snapshot meets the clients' own parsing and
rejection rules exactly as the recording does.

What each recording gives, and what it cannot:

- **GBFS day folders** (``gbfs/<date>/station_{information,status}.json``):
  served as recorded, every field kept (``numBikesAvailable`` duplicates,
  ``rental_methods``, ``station_opening_hours``). As open-data records:
  ``stationcode``, ``name``, ``capacity``, counts, flags (OUI/NON),
  ``duedate`` (from ``last_reported``, UTC) and ``coordonnees_geo``;
  ``nom_arrondissement_communes`` and ``code_insee_commune`` are not in GBFS
  and are served as null.
- **open-data history** (``velib-opendata-<UTC time>.csv.gz``, all four
  layouts): as open-data records, every field the export carries; ``duedate``
  is the export's naive Europe/Paris ``Actualisation de la donnée`` converted
  to UTC (the API answers in UTC); ``nom_arrondissement_communes`` only from
  the 2022-06-03 layout (``Nom communes équipées``; the scraper's ``Ville`` is
  unreliable and is not used), else null; ``code_insee_commune`` is always null.
  As GBFS: ``station_id`` is the export's GBFS id in the May 2022 layouts and,
  in the 2022-06-03 layout (which has no GBFS id), the station code as a
  string; ``stationCode`` comes from ``data/reference/station_ids.csv`` and
  ``station_ids_derived.csv``, and an id neither table knows gets the
  placeholder ``id:<station_id>`` (the code the project's own parser gives it;
  the real code is not in the recording). ``rental_methods``, ``station_opening_hours`` and
  ``system_information`` are not reconstructed. ``ttl`` is 3600, as in the
  recorded GBFS files.
- Feed time: a frame's time is the GBFS ``lastUpdatedOther`` or the history
  file's UTC commit time (from its name), the same ``observed_at`` that
  :func:`pipeline.sources.recorded.read_recorded` gives it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.record import placeholder_code
from pipeline.sources.normalize import (
    Reference,
    RowError,
    paris_local_to_utc,
    parse_latlon,
    to_flag,
    to_float,
)
from pipeline.sources.parsers import COMMUNE_COLUMN, ID_COLUMN
from pipeline.sources.recorded import read_payload

GBFS_TTL_S = 3600
GBFS_FEEDS = ("station_information", "station_status")
MAX_LIMIT, MAX_WINDOW = 100, 10_000  # the Explore API's page size and offset + limit limits
REPORT_COLUMN = "Actualisation de la donnée"  # the station's last report, naive Paris time
_LATLON = "Coordonnées géographiques"

Station = dict[str, Any]


@dataclass(frozen=True)
class Payloads:
    """One snapshot in the three wire shapes (shared by requests: copy before changing)."""

    information: list[Station]
    status: list[Station]
    records: list[Station]
    info_updated: int


# --- value conversions (a value that does not convert is passed on as recorded) ---


def _count(value: Any) -> Any:
    if value is None or value == "":
        return None
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _flag01(value: Any) -> Any:
    try:
        return int(to_flag(value, "flag"))
    except RowError:
        return value


def _oui_non(value: Any) -> Any:
    try:
        return "OUI" if to_flag(value, "flag") else "NON"
    except RowError:
        return value


def _paris_epoch(value: Any) -> Any:
    try:
        return int(paris_local_to_utc(value, "report").timestamp())
    except RowError:
        return value


def _paris_iso(value: Any) -> Any:
    try:
        return paris_local_to_utc(value, "report").isoformat()
    except RowError:
        return value


def _epoch_iso(value: Any) -> Any:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return value


def _geo(lat: float | None, lon: float | None) -> dict[str, float | None] | None:
    return None if lat is None and lon is None else {"lon": lon, "lat": lat}


# --- open-data history -> GBFS and API records -----------------------------------


def history_payloads(rows: list[dict[str, str]], at: datetime, ref: Reference) -> Payloads:
    """Rewrite the rows of one open-data export into GBFS and API v2.1 shapes.

    The id column holds GBFS ids or station codes depending on the layout; it
    is decided per file exactly as :func:`pipeline.sources.parsers.parse_opendata_csv`
    decides it, so both readings name the same stations.
    """
    ids = [r.get(ID_COLUMN) or "" for r in rows]
    as_ids = sum(1 for i in ids if i.isdigit() and int(i) in ref.codes_by_id)
    known = ref.known_codes
    gbfs_ids = as_ids > sum(1 for i in ids if i in known)
    information: list[Station] = []
    status: list[Station] = []
    records: list[Station] = []
    for row in rows:
        ident = (row.get(ID_COLUMN) or "").strip()
        sid: int | str = ident
        code = ident
        if gbfs_ids and ident.isdigit():
            sid = int(ident)
            code = ref.codes_by_id.get(sid) or placeholder_code(sid)
        if _LATLON in row:
            lat, lon = parse_latlon(row[_LATLON])
        else:
            lat, lon = to_float(row.get("Lattitude")), to_float(row.get("Longitude"))
        name, capacity = row.get("Nom station"), _count(row.get("Capacité de la station"))
        bikes = _count(row.get("Nombre total vélos disponibles"))
        mechanical = _count(row.get("Vélos mécaniques disponibles"))
        ebike = _count(row.get("Vélos électriques disponibles"))
        docks = _count(row.get("Nombre bornettes libres"))
        flags = {
            "is_installed": row.get("Station en fonctionnement"),
            "is_renting": row.get("Borne de paiement disponible"),
            "is_returning": row.get("Retour vélib possible"),
        }
        reported = row.get(REPORT_COLUMN)
        information.append(
            {
                "station_id": sid,
                "stationCode": code,
                "name": name,
                "lat": lat,
                "lon": lon,
                "capacity": capacity,
            }
        )
        status.append(
            {
                "station_id": sid,
                "num_bikes_available": bikes,
                "numBikesAvailable": bikes,
                "num_bikes_available_types": [{"mechanical": mechanical}, {"ebike": ebike}],
                "num_docks_available": docks,
                "numDocksAvailable": docks,
                **{k: _flag01(v) for k, v in flags.items()},
                "last_reported": _paris_epoch(reported),
                "stationCode": code,
            }
        )
        records.append(
            _ApiRow(
                code, name, capacity, bikes, mechanical, ebike, docks,
                {k: _oui_non(v) for k, v in flags.items()},
                _paris_iso(reported), _geo(lat, lon), row.get(COMMUNE_COLUMN),
            ).record()
        )  # fmt: skip
    return Payloads(information, status, records, int(at.timestamp()))


@dataclass(frozen=True)
class _ApiRow:
    """The values of one Explore API v2.1 record, gathered from either recorded shape."""

    code: Any
    name: Any
    capacity: Any
    bikes: Any
    mechanical: Any
    ebike: Any
    docks: Any
    flags: Mapping[str, Any]  # is_installed, is_renting, is_returning (OUI/NON)
    duedate: Any
    geo: Any
    commune: Any

    def record(self) -> Station:
        """The record of ``velib-disponibilite-en-temps-reel``, in its key order."""
        return {
            "stationcode": self.code,
            "name": self.name,
            "is_installed": self.flags["is_installed"],
            "capacity": self.capacity,
            "numdocksavailable": self.docks,
            "numbikesavailable": self.bikes,
            "mechanical": self.mechanical,
            "ebike": self.ebike,
            "is_renting": self.flags["is_renting"],
            "is_returning": self.flags["is_returning"],
            "duedate": self.duedate,
            "coordonnees_geo": self.geo,
            "nom_arrondissement_communes": self.commune,
            "code_insee_commune": None,
        }


# --- GBFS -> API records -----------------------------------------------------------


def gbfs_payloads(
    status_path: Path, info_path: Path | None, at: datetime, ref: Reference
) -> Payloads:
    """A recorded GBFS snapshot as recorded, plus its stations as API v2.1 records."""
    status_doc = read_payload(status_path)[1]
    info_doc = read_payload(info_path)[1] if info_path else {"data": {}}
    status = list(status_doc["data"]["stations"])
    information = list(info_doc.get("data", {}).get("stations", []))
    info_updated = info_doc.get("lastUpdatedOther") or int(at.timestamp())
    return Payloads(information, status, gbfs_records(information, status, ref), info_updated)


def gbfs_records(
    information: list[Station], status: list[Station], ref: Reference
) -> list[Station]:
    """Join GBFS information and status on station_id (as parse_gbfs does) into API records."""
    info_by_id = {s.get("station_id"): s for s in information if isinstance(s, Mapping)}
    records: list[Station] = []
    for raw in status:
        if not isinstance(raw, Mapping):
            continue
        sid = raw.get("station_id")
        info = info_by_id.get(sid, {})
        code = raw.get("stationCode") or info.get("stationCode")
        if not code and isinstance(sid, int):
            code = ref.codes_by_id.get(sid)
        listed = raw.get("num_bikes_available_types")
        types: dict[str, Any] = dict(listed) if isinstance(listed, Mapping) else {}
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, Mapping):
                types.update(item)
        flags = {k: _oui_non(raw.get(k)) for k in ("is_installed", "is_renting", "is_returning")}
        records.append(
            _ApiRow(
                code, info.get("name"), info.get("capacity"),
                raw.get("num_bikes_available", raw.get("numBikesAvailable")),
                types.get("mechanical"), types.get("ebike"),
                raw.get("num_docks_available", raw.get("numDocksAvailable")),
                flags, _epoch_iso(raw.get("last_reported")),
                _geo(to_float(info.get("lat")), to_float(info.get("lon"))), None,
            ).record()
        )  # fmt: skip
    return records


def station_key(station: Mapping[str, Any]) -> str:
    """The code a station goes by in any wire shape (station_id when it has no code)."""
    code = station.get("stationCode") or station.get("stationcode")
    return str(code if code else station.get("station_id"))


# --- HTTP answers ----------------------------------------------------------------

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@dataclass
class Reply:
    """What the server writes: status, body, type, extra headers, and a wait before it."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def json_reply(status: int, payload: Any) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(payload).encode())


def html_page(status: int) -> bytes:
    """An nginx-style error page: what a gateway answers when the app behind it is down."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}"
        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def bad_request(message: str) -> Reply:
    """The Explore API's answer to a bad parameter."""
    return json_reply(400, {"error_code": "InvalidRESTParameterError", "message": message})


def too_many_requests(retry_after_s: int) -> Reply:
    """A rate-limit answer with the wait the client must respect."""
    reply = json_reply(429, {"error_code": "TooManyRequests", "message": "Too many requests"})
    reply.headers["Retry-After"] = str(retry_after_s)
    return reply


def page_params(query: Mapping[str, Sequence[str]]) -> tuple[int, int, str] | Reply:
    """``(limit, offset, order_by)`` of a records request, or the API's 400 answer."""
    try:
        limit = int(query.get("limit", ["10"])[0])
        offset = int(query.get("offset", ["0"])[0])
    except ValueError:
        return bad_request("limit and offset must be integers")
    if not 1 <= limit <= MAX_LIMIT or offset < 0 or offset + limit > MAX_WINDOW:
        return bad_request(
            f"Invalid value for limit/offset ({limit}/{offset}): 1 <= limit <= "
            f"{MAX_LIMIT} and offset + limit <= {MAX_WINDOW} are expected."
        )
    order = query.get("order_by", [""])[0].strip()
    if order not in ("", "stationcode"):
        return bad_request(f"order_by {order!r}: only stationcode is served here")
    return limit, offset, order


def records_page(records: list[Station], limit: int, offset: int, order: str) -> Reply:
    """One page of records with the total count, as the Explore API v2.1 answers."""
    if order:
        records = sorted(records, key=lambda r: str(r.get("stationcode") or ""))
    page = records[offset : offset + limit]
    return json_reply(200, {"total_count": len(records), "results": page})


def feed_of(path: str) -> str:
    """Which feed a path asks for (the ledger's ``feed`` column)."""
    if path.endswith("/gbfs.json"):
        return "discovery"
    for name in GBFS_FEEDS:
        if path.endswith(f"/{name}.json"):
            return name
    return "records" if path.endswith("/records") else "unknown"
