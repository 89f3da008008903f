"""pipeline.localfeed.shapes: recorded rows rewritten as GBFS and API v2.1 shapes, and HTTP answers.

Hand-made rows check each conversion (and that a value that does not convert is passed on
as recorded); the recorded GBFS fixture checks the join; the Explore API paging rules are
checked against the limits the module declares.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.localfeed.shapes import (
    GBFS_TTL_S,
    MAX_LIMIT,
    MAX_WINDOW,
    Reply,
    bad_request,
    feed_of,
    gbfs_payloads,
    gbfs_records,
    history_payloads,
    html_page,
    json_reply,
    page_params,
    records_page,
    station_key,
    too_many_requests,
)
from pipeline.sources.normalize import Reference

FIX = Path(__file__).resolve().parents[2] / "fixtures"
DAY = FIX / "gbfs" / "2025-10-18"
AT = datetime(2022, 6, 3, 0, 34, 27, tzinfo=UTC)

LAYOUT4_ROW = {  # the 2022-06-03 layout: station codes, "lat,lon", OUI/NON, communes
    "Identifiant station": "8052",
    "Nom station": "Balzac - Champs Elysées",
    "Station en fonctionnement": "OUI",
    "Capacité de la station": "30",
    "Nombre bornettes libres": "28",
    "Nombre total vélos disponibles": "1",
    "Vélos mécaniques disponibles": "1",
    "Vélos électriques disponibles": "0",
    "Borne de paiement disponible": "OUI",
    "Retour vélib possible": "NON",
    "Actualisation de la donnée": "2022-06-03 01:34:10",
    "Coordonnées géographiques": "48.872699639621,2.3001953959465",
    "Nom communes équipées": "Paris",
}
LAYOUT1_ROW = {  # the May 2022 layout: GBFS ids, Lattitude/Longitude, 1/0
    "Identifiant station": "66491371",
    "Nom station": "Pierre Sarrazin - Saint-Michel",
    "Station en fonctionnement": "1",
    "Capacité de la station": "33",
    "Nombre bornettes libres": "12",
    "Nombre total vélos disponibles": "20",
    "Vélos mécaniques disponibles": "17",
    "Vélos électriques disponibles": "3",
    "Borne de paiement disponible": "1",
    "Retour vélib possible": "0",
    "Actualisation de la donnée": "2022-05-12 11:19:02",
    "Lattitude": "48.85090814639774",
    "Longitude": "2.343296",
}


# --- open-data history rows ---------------------------------------------------------------


def test_a_layout4_row_in_the_three_shapes() -> None:
    shapes = history_payloads([LAYOUT4_ROW], AT, Reference(communes={"8052": "Paris"}))
    assert shapes.info_updated == int(AT.timestamp())
    info, status, rec = shapes.information[0], shapes.status[0], shapes.records[0]
    assert info == {
        "station_id": "8052",  # no GBFS id in this layout: the code, as a string
        "stationCode": "8052",
        "name": "Balzac - Champs Elysées",
        "lat": 48.872699639621,
        "lon": 2.3001953959465,
        "capacity": 30,
    }
    # 01:34:10 Paris summer time is 23:34:10 UTC the day before
    reported = datetime(2022, 6, 2, 23, 34, 10, tzinfo=UTC)
    assert status == {
        "station_id": "8052",
        "num_bikes_available": 1,
        "numBikesAvailable": 1,
        "num_bikes_available_types": [{"mechanical": 1}, {"ebike": 0}],
        "num_docks_available": 28,
        "numDocksAvailable": 28,
        "is_installed": 1,
        "is_renting": 1,
        "is_returning": 0,
        "last_reported": int(reported.timestamp()),
        "stationCode": "8052",
    }
    assert rec == {
        "stationcode": "8052",
        "name": "Balzac - Champs Elysées",
        "is_installed": "OUI",
        "capacity": 30,
        "numdocksavailable": 28,
        "numbikesavailable": 1,
        "mechanical": 1,
        "ebike": 0,
        "is_renting": "OUI",
        "is_returning": "NON",
        "duedate": reported.isoformat(),
        "coordonnees_geo": {"lon": 2.3001953959465, "lat": 48.872699639621},
        "nom_arrondissement_communes": "Paris",
        "code_insee_commune": None,
    }
    assert list(rec)[:3] == ["stationcode", "name", "is_installed"]  # the API's key order


def test_gbfs_ids_are_mapped_and_unknown_ids_get_the_placeholder() -> None:
    unknown = {**LAYOUT1_ROW, "Identifiant station": "37920"}
    ref = Reference(codes_by_id={66491371: "5001"})
    shapes = history_payloads([LAYOUT1_ROW, unknown], AT, ref)
    assert [s["station_id"] for s in shapes.status] == [66491371, 37920]
    assert [s["stationCode"] for s in shapes.information] == ["5001", "id:37920"]
    assert [r["stationcode"] for r in shapes.records] == ["5001", "id:37920"]
    assert shapes.information[0]["lat"] == 48.85090814639774
    assert shapes.records[0]["nom_arrondissement_communes"] is None  # no commune column
    assert (shapes.status[0]["is_renting"], shapes.status[0]["is_returning"]) == (1, 0)
    assert (shapes.records[0]["is_renting"], shapes.records[0]["is_returning"]) == ("OUI", "NON")


def test_ids_stay_codes_unless_more_of_them_are_known_as_gbfs_ids() -> None:
    # "8052" is both a known code and (as a number) a known GBFS id: a tie keeps codes
    ref = Reference(communes={"8052": "Paris"}, codes_by_id={8052: "99999"})
    shapes = history_payloads([LAYOUT4_ROW], AT, ref)
    assert shapes.status[0]["station_id"] == "8052"
    assert shapes.records[0]["stationcode"] == "8052"


def test_values_that_do_not_convert_are_passed_on_as_recorded() -> None:
    odd = {
        **LAYOUT4_ROW,
        "Capacité de la station": "",
        "Nombre total vélos disponibles": "-3",
        "Nombre bornettes libres": "lots",
        "Station en fonctionnement": "maybe",
        "Actualisation de la donnée": "yesterday",
        "Coordonnées géographiques": "",
    }
    shapes = history_payloads([odd], AT, Reference())
    status, rec, info = shapes.status[0], shapes.records[0], shapes.information[0]
    assert info["capacity"] is None  # empty is absent
    assert status["num_bikes_available"] == "-3" and rec["numbikesavailable"] == "-3"
    assert status["num_docks_available"] == "lots"
    assert status["is_installed"] == "maybe" and rec["is_installed"] == "maybe"
    assert status["last_reported"] == "yesterday" and rec["duedate"] == "yesterday"
    assert rec["coordonnees_geo"] is None and (info["lat"], info["lon"]) == (None, None)


# --- recorded GBFS -------------------------------------------------------------------------


def _load(name: str) -> Any:
    return json.loads((DAY / name).read_text(encoding="utf-8"))


def test_gbfs_snapshot_is_served_as_recorded_plus_api_records() -> None:
    status, info = _load("station_status.json"), _load("station_information.json")
    shapes = gbfs_payloads(
        DAY / "station_status.json", DAY / "station_information.json", AT, Reference()
    )
    assert shapes.status == status["data"]["stations"]
    assert shapes.information == info["data"]["stations"]
    assert shapes.info_updated == info["lastUpdatedOther"]
    assert len(shapes.records) == len(status["data"]["stations"])
    by_id = {s["station_id"]: s for s in info["data"]["stations"]}
    for raw, rec in zip(status["data"]["stations"], shapes.records, strict=True):
        about = by_id[raw["station_id"]]
        types = {k: v for item in raw["num_bikes_available_types"] for k, v in item.items()}
        assert rec["stationcode"] == raw["stationCode"] and rec["name"] == about["name"]
        assert rec["numbikesavailable"] == raw["num_bikes_available"]
        assert (rec["mechanical"], rec["ebike"]) == (types["mechanical"], types["ebike"])
        assert rec["is_renting"] == ("OUI" if raw["is_renting"] else "NON")
        assert rec["duedate"] == datetime.fromtimestamp(raw["last_reported"], UTC).isoformat()
        assert rec["coordonnees_geo"] == {"lon": about["lon"], "lat": about["lat"]}
        assert rec["nom_arrondissement_communes"] is None


def test_gbfs_without_information_is_served_empty() -> None:
    shapes = gbfs_payloads(DAY / "station_status.json", None, AT, Reference())
    assert shapes.information == [] and shapes.info_updated == int(AT.timestamp())
    assert all(r["name"] is None and r["coordonnees_geo"] is None for r in shapes.records)


def test_gbfs_records_standard_shapes_and_reference_codes() -> None:
    status = [
        {"station_id": 7, "num_bikes_available": 3, "num_bikes_available_types":
         {"mechanical": 2, "ebike": 1}, "num_docks_available": 4, "is_installed": True,
         "is_renting": 0, "is_returning": "x", "last_reported": "never"},
        "not a station",
        {"station_id": 8, "numBikesAvailable": 1, "numDocksAvailable": 2},
    ]  # fmt: skip
    records = gbfs_records([], status, Reference(codes_by_id={7: "16107"}))
    assert len(records) == 2  # the non-object is skipped
    first, second = records
    assert first["stationcode"] == "16107"
    assert (first["numbikesavailable"], first["mechanical"], first["ebike"]) == (3, 2, 1)
    assert (first["is_installed"], first["is_renting"], first["is_returning"]) == (
        "OUI", "NON", "x",
    )  # fmt: skip
    assert first["duedate"] == "never"
    assert second["stationcode"] is None  # no code anywhere
    assert (second["numbikesavailable"], second["numdocksavailable"]) == (1, 2)


def test_station_key_in_any_shape() -> None:
    assert station_key({"stationCode": "16107", "station_id": 1}) == "16107"
    assert station_key({"stationcode": "8052"}) == "8052"
    assert station_key({"station_id": 213688169}) == "213688169"
    assert station_key({"stationCode": "", "station_id": 5}) == "5"


# --- HTTP answers ---------------------------------------------------------------------------


def test_json_reply_and_api_errors() -> None:
    reply = json_reply(200, {"a": [1, "é"]})
    assert (reply.status, json.loads(reply.body)) == (200, {"a": [1, "é"]})
    assert reply.content_type.startswith("application/json") and reply.delay_s == 0.0
    bad = bad_request("nope")
    assert bad.status == 400
    assert json.loads(bad.body) == {"error_code": "InvalidRESTParameterError", "message": "nope"}
    limited = too_many_requests(7)
    assert limited.status == 429 and limited.headers == {"Retry-After": "7"}
    assert json.loads(limited.body)["error_code"] == "TooManyRequests"
    assert too_many_requests(1).headers == {"Retry-After": "1"}  # headers are not shared


@pytest.mark.parametrize(
    ("status", "title"),
    [(503, "503 Service Temporarily Unavailable"), (502, "502 Bad Gateway"), (418, "418 Error")],
)
def test_html_page_is_an_nginx_error_page(status: int, title: str) -> None:
    page = html_page(status).decode()
    assert page.startswith("<html>") and f"<title>{title}</title>" in page
    assert "<center>nginx</center>" in page and "\r\n" in page


def test_page_params_defaults_and_limits() -> None:
    assert page_params({}) == (10, 0, "")
    assert page_params({"limit": ["100"], "offset": ["9900"], "order_by": [" stationcode "]}) == (
        MAX_LIMIT,
        MAX_WINDOW - MAX_LIMIT,
        "stationcode",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": ["ten"]}, "must be integers"),
        ({"limit": ["0"]}, "Invalid value for limit/offset (0/0)"),
        ({"limit": [str(MAX_LIMIT + 1)]}, "Invalid value"),
        ({"offset": ["-1"]}, "Invalid value"),
        ({"limit": ["100"], "offset": ["9901"]}, "Invalid value"),
        ({"order_by": ["name"]}, "only stationcode"),
    ],
)
def test_page_params_bad_requests(query: dict[str, list[str]], message: str) -> None:
    reply = page_params(query)
    assert isinstance(reply, Reply) and reply.status == 400
    assert message in json.loads(reply.body)["message"]


def test_records_page_counts_all_and_sorts_by_code_when_asked() -> None:
    records = [{"stationcode": c} for c in ("9020", "16107", "8052", None)]
    page = json.loads(records_page(records, 2, 1, "stationcode").body)
    assert page["total_count"] == 4
    # sorted as text: "" (None) < "16107" < "8052" < "9020"
    assert page["results"] == [{"stationcode": "16107"}, {"stationcode": "8052"}]
    unsorted = json.loads(records_page(records, 10, 3, "").body)
    assert unsorted["results"] == [{"stationcode": None}]
    assert json.loads(records_page(records, 5, 10, "").body)["results"] == []


@pytest.mark.parametrize(
    ("path", "feed"),
    [
        ("/gbfs/gbfs.json", "discovery"),
        ("/gbfs/en/station_information.json", "station_information"),
        ("/gbfs/en/station_status.json", "station_status"),
        ("/api/explore/v2.1/catalog/datasets/velib/records", "records"),
        ("/favicon.ico", "unknown"),
    ],
)
def test_feed_of(path: str, feed: str) -> None:
    assert feed_of(path) == feed


def test_gbfs_ttl_is_the_recorded_one() -> None:
    assert GBFS_TTL_S == _load("station_status.json")["ttl"]
