"""pipeline.sources.parsers called directly: failed_snapshot, feed_time, GBFS join, open-data forms.

Records come from tests/fixtures (real recorded payloads); expectations are read from
the raw payloads independently of the parser, or worked out by hand on small rows.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline.sources.normalize import Reference
from pipeline.sources.parsers import (
    EXCERPT_CHARS,
    SnapshotError,
    failed_snapshot,
    feed_time,
    parse_gbfs,
    parse_opendata_csv,
    parse_opendata_records,
    parse_v1_table,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
GBFS = FIX / "gbfs" / "2025-10-18"
LAYOUT4 = FIX / "opendata" / "velib-opendata-2022-06-03T003427Z.csv"
SEED = FIX / "seed" / "seed-notebook-2023-02-15.csv"
WHEN = datetime(2025, 10, 18, 9, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
EMPTY = Reference()


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _distinct(status: dict[str, Any]) -> int:
    """Stations of a status file (the 2025 file repeats one station verbatim: kept once)."""
    return len({s["stationCode"] for s in status["data"]["stations"]})


@pytest.fixture(scope="module")
def gbfs() -> tuple[dict[str, Any], dict[str, Any]]:
    return _json(GBFS / "station_information.json"), _json(GBFS / "station_status.json")


# --- failed_snapshot ---------------------------------------------------------------------


def test_failed_snapshot_is_one_rejection_with_a_short_excerpt() -> None:
    raw = "<html>" + "x" * 1000
    snap = failed_snapshot("HTML where JSON was expected", raw, "http://feed", WHEN, "gbfs")
    assert (snap.observed_at, snap.source, snap.origin) == (WHEN, "gbfs", "http://feed")
    assert snap.records == [] and len(snap.rejects) == 1
    reject = snap.rejects[0]
    assert reject.reason == "HTML where JSON was expected" and reject.origin == "http://feed"
    assert reject.raw == raw[:EXCERPT_CHARS] and len(reject.raw) == EXCERPT_CHARS


def test_failed_snapshot_decodes_bytes_and_keeps_other_values() -> None:
    snap = failed_snapshot("bad", b"caf\xc3\xa9 \xff", "o", WHEN, "s")
    assert snap.rejects[0].raw == "café \ufffd"
    payload = {"error": 503}
    assert failed_snapshot("bad", payload, "o", WHEN, "s").rejects[0].raw == payload


# --- feed_time ---------------------------------------------------------------------------


def test_feed_time_prefers_lastupdatedother_then_last_updated() -> None:
    assert feed_time({"lastUpdatedOther": 1760778556, "last_updated": 1}) == datetime(
        2025, 10, 18, 9, 9, 16, tzinfo=UTC
    )
    assert feed_time({"last_updated": 0}) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("payload", [None, [], "text", {}, {"lastUpdatedOther": "soon"}])
def test_feed_time_is_none_when_absent_or_garbage(payload: Any) -> None:
    assert feed_time(payload) is None


# --- GBFS --------------------------------------------------------------------------------


def test_gbfs_counts_come_from_the_status_file(gbfs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    info, status = gbfs
    snap = parse_gbfs(info, status, origin="t", ref=EMPTY)
    assert snap.source == "gbfs"
    assert snap.observed_at == datetime.fromtimestamp(status["lastUpdatedOther"], tz=UTC)
    by_code = {r.station_code: r for r in snap.records}
    names = {s["stationCode"]: s["name"] for s in info["data"]["stations"]}
    for raw in status["data"]["stations"]:
        record = by_code[raw["stationCode"]]
        types = {k: v for item in raw["num_bikes_available_types"] for k, v in item.items()}
        assert record.station_id == raw["station_id"]
        assert record.bikes_available == raw["num_bikes_available"]
        assert record.docks_available == raw["num_docks_available"]
        assert (record.mechanical_available, record.ebike_available) == (
            types["mechanical"],
            types["ebike"],
        )
        assert record.is_renting is bool(raw["is_renting"])
        assert record.last_reported == datetime.fromtimestamp(raw["last_reported"], tz=UTC)
        assert record.name == names[raw["stationCode"]]


def test_gbfs_without_information_keeps_status_only(
    gbfs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, status = gbfs
    snap = parse_gbfs(None, status, origin="t", ref=EMPTY, observed_at=WHEN)
    assert snap.observed_at == WHEN  # an explicit time wins over the feed's
    assert len(snap.records) == _distinct(status) and snap.rejects == []
    assert all(r.name is None and r.lat is None and r.capacity is None for r in snap.records)


def test_gbfs_standard_shapes_dict_types_and_code_from_reference(
    gbfs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, status = gbfs
    bent = copy.deepcopy(status)
    row = bent["data"]["stations"][0]
    sid = row["station_id"]
    del row["stationCode"], row["num_bikes_available"]  # camelCase count is the fallback
    row["numBikesAvailable"] = 3
    row["num_bikes_available_types"] = {"mechanical": 2, "ebike": 1}  # standard GBFS form
    ref = Reference(codes_by_id={sid: "99001"})
    snap = parse_gbfs(None, bent, origin="t", ref=ref)
    record = next(r for r in snap.records if r.station_id == sid)
    assert record.station_code == "99001"
    assert (record.bikes_available, record.mechanical_available, record.ebike_available) == (
        3,
        2,
        1,
    )
    # without the reference the station has no code at all: rejected, not raised
    snap = parse_gbfs(None, bent, origin="t", ref=EMPTY)
    assert [r.reason for r in snap.rejects] == ["missing station code"]


def test_gbfs_entry_that_is_not_an_object_is_rejected(
    gbfs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    info, status = gbfs
    bent = copy.deepcopy(status)
    bent["data"]["stations"].append("not a station")
    snap = parse_gbfs(info, bent, origin="here", ref=EMPTY)
    assert len(snap.records) == _distinct(status)
    assert [(r.reason, r.raw, r.origin) for r in snap.rejects] == [
        ("station entry is not an object", "not a station", "here")
    ]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (None, "GBFS station_status without data.stations"),
        ({"lastUpdatedOther": 1}, "without data.stations"),
        ({"data": {"stations": {"a": 1}}}, "data.stations is not a list"),
    ],
)
def test_gbfs_status_that_is_not_a_station_list_raises(status: Any, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        parse_gbfs(None, status, origin="t", ref=EMPTY)


def test_gbfs_broken_information_raises(gbfs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    with pytest.raises(SnapshotError, match="station_information without data.stations"):
        parse_gbfs({"html": "503"}, gbfs[1], origin="t", ref=EMPTY)


def test_gbfs_without_any_time_is_stamped_now(gbfs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    bent = copy.deepcopy(gbfs[1])
    del bent["lastUpdatedOther"]
    before = datetime.now(UTC)
    snap = parse_gbfs(None, bent, origin="t", ref=EMPTY)
    assert before <= snap.observed_at <= datetime.now(UTC)


# --- open-data CSV export ----------------------------------------------------------------


def test_opendata_csv_time_is_the_latest_update_in_paris_time() -> None:
    text = LAYOUT4.read_text(encoding="utf-8")
    stamps = [r["Actualisation de la donnée"] for r in csv.DictReader(io.StringIO(text))]
    latest = max(datetime.fromisoformat(s) for s in stamps)  # naive Europe/Paris
    snap = parse_opendata_csv(text, origin="t")
    assert snap.observed_at == latest.replace(tzinfo=PARIS).astimezone(UTC)
    assert snap.source == "replay:opendata-csv"
    given = parse_opendata_csv(text, origin="t", observed_at=WHEN, source="x")
    assert given.observed_at == WHEN and all(r.observed_at == WHEN for r in given.records)


def test_opendata_csv_codes_stay_codes_with_an_empty_reference() -> None:
    text = LAYOUT4.read_text(encoding="utf-8")
    idents = [r["Identifiant station"] for r in csv.DictReader(io.StringIO(text))]
    snap = parse_opendata_csv(text, origin="t", ref=EMPTY)
    assert sorted(r.station_code for r in snap.records) == sorted(idents)
    assert all(r.station_id is None for r in snap.records) and snap.unmapped_ids == 0


def test_opendata_csv_ids_are_gbfs_ids_when_the_reference_knows_more_of_them() -> None:
    text = "\n".join(
        [
            "Identifiant station,Nom station,Station en fonctionnement,Nombre bornettes libres,"
            "Nombre total vélos disponibles,Borne de paiement disponible,Retour vélib possible,"
            "Actualisation de la donnée,Lattitude,Longitude",
            "213688169,A,1,10,2,1,1,2022-05-12 11:00:00,48.86,2.27",
            "555,B,1,5,0,1,0,2022-05-12 11:30:00,48.87,2.28",
        ]
    )
    snap = parse_opendata_csv(text, origin="t", ref=Reference(codes_by_id={213688169: "16107"}))
    by_id = {r.station_id: r for r in snap.records}
    assert by_id[213688169].station_code == "16107"
    assert by_id[555].station_code == "id:555" and snap.unmapped_ids == 1
    assert by_id[555].is_returning is False and by_id[555].lat == 48.87
    # 11:30 Paris summer time (UTC+2) is 09:30 UTC
    assert snap.observed_at == datetime(2022, 5, 12, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unknown CSV layout"),
        ("a,b,c\n1,2,3\n", "missing Identifiant station, Nom station"),
        (
            "Identifiant station,Nom station,Station en fonctionnement,Nombre bornettes libres,"
            "Nombre total vélos disponibles,Borne de paiement disponible,Retour vélib possible,"
            "Actualisation de la donnée\n",
            "missing coordinates",
        ),
    ],
)
def test_opendata_csv_of_unknown_layout_raises(text: str, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        parse_opendata_csv(text, origin="t", ref=EMPTY)


# --- open-data API records and the seed's v1 table ---------------------------------------


def _seed_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(SEED.read_text(encoding="utf-8"))))


def test_api_records_v1_fields_and_v21_flat_give_the_same_records() -> None:
    rows = _seed_rows()[:4]
    v1 = parse_opendata_records([{"fields": r} for r in rows], origin="o", observed_at=WHEN)
    flat = parse_opendata_records(rows, origin="o", observed_at=WHEN)
    assert v1.records == flat.records and len(v1.records) == 4 and v1.rejects == []
    first = v1.records[0]
    assert first.station_code == rows[0]["stationcode"] and first.source == "opendata"
    assert first.last_reported == datetime.fromisoformat(rows[0]["duedate"])
    assert (first.lat, first.lon) == (48.86785, 2.446748)  # "[48.86785, 2.446748]"


def test_api_records_v21_coordinates_object() -> None:
    row = {**_seed_rows()[0], "coordonnees_geo": {"lon": 2.5, "lat": 48.5}}
    snap = parse_opendata_records([row], origin="o", observed_at=WHEN, ref=EMPTY)
    assert (snap.records[0].lat, snap.records[0].lon) == (48.5, 2.5)


def test_api_record_that_is_not_an_object_is_rejected_not_raised() -> None:
    rows: list[Any] = [_seed_rows()[0], None]
    snap = parse_opendata_records(rows, origin="o", observed_at=WHEN, ref=EMPTY)
    assert len(snap.records) == 1 and len(snap.rejects) == 1


def _v1_table(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_v1_table_splits_polls_drops_verbatim_repeats_and_orders_polls() -> None:
    a, b, c = _seed_rows()[:3]
    a2 = {**a, "numbikesavailable": "3", "numdocksavailable": "35",
          "duedate": "2023-02-15T10:50:00+00:00"}  # fmt: skip
    # poll 0: a, b; poll 1: a (verbatim again), c; poll 2: a2 (a new state)
    snaps = parse_v1_table(_v1_table([a, b, a, c, a2]), origin="seed.csv", ref=EMPTY)
    assert [len(s.records) for s in snaps] == [2, 1, 1]
    assert [s.oddities["repeated_rows_dropped"] for s in snaps] == [1 - 1, 1, 0]
    assert [s.origin for s in snaps] == [f"seed.csv#poll{i}" for i in range(3)]
    assert [r.station_code for r in snaps[1].records] == [c["stationcode"]]
    assert snaps[2].records[0].bikes_available == 3
    dues = [datetime.fromisoformat(r["duedate"]) for r in (a, b, c, a2)]
    latest0 = max(dues[:2])
    latest1 = max(dues[:3])
    assert snaps[0].observed_at == latest0
    assert snaps[1].observed_at == latest1 + timedelta(microseconds=1)
    assert snaps[2].observed_at == max(dues) + timedelta(microseconds=2)
    assert all(s.source == "replay:opendata-v1" for s in snaps)


def test_v1_table_without_the_v1_fields_raises() -> None:
    with pytest.raises(SnapshotError, match="unknown CSV layout"):
        parse_v1_table("stationcode,name\n1,a\n", origin="t", ref=EMPTY)
    with pytest.raises(SnapshotError):
        parse_v1_table("", origin="t", ref=EMPTY)
