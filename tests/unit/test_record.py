"""pipeline.record: the JSON and CSV forms of one real station, timestamps, validation errors.

Round trips over arbitrary records are the property tests' job (tests/property); here the
exact encodings are checked on a real station from tests/fixtures and by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline import record
from pipeline.record import (
    CSV_HEADER,
    FIELD_NAMES,
    FIELDS,
    STATE_FIELDS,
    StationRecord,
    csv_row_from_json_dict,
    format_timestamp,
    from_csv_row,
    from_json,
    from_json_dict,
    parse_timestamp,
    to_csv_row,
    to_json,
    to_json_dict,
)
from pipeline.sources.normalize import Reference
from pipeline.sources.parsers import parse_gbfs

DAY = Path(__file__).resolve().parent.parent / "fixtures" / "gbfs" / "2024-11-19"
PARIS = ZoneInfo("Europe/Paris")


def _load(name: str) -> Any:
    return json.loads((DAY / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def raw() -> tuple[dict[str, Any], dict[str, Any], int]:
    """The first station of the 2024-11-19 fixture: (information, status, feed time)."""
    info, status = _load("station_information.json"), _load("station_status.json")
    first = status["data"]["stations"][0]
    about = next(s for s in info["data"]["stations"] if s["station_id"] == first["station_id"])
    return about, first, status["lastUpdatedOther"]


@pytest.fixture(scope="module")
def rec(raw: tuple[dict[str, Any], dict[str, Any], int]) -> StationRecord:
    info, status = _load("station_information.json"), _load("station_status.json")
    snap = parse_gbfs(info, status, origin="t", source="replay:gbfs", ref=Reference())
    return next(r for r in snap.records if r.station_id == raw[1]["station_id"])


# --- timestamps ------------------------------------------------------------------------------


def test_format_timestamp_is_utc_with_z() -> None:
    assert format_timestamp(datetime(2024, 11, 19, 8, 22, 18, tzinfo=UTC)) == "2024-11-19T08:22:18Z"
    # 09:22 in Paris in November is UTC+1
    assert (
        format_timestamp(datetime(2024, 11, 19, 9, 22, 18, tzinfo=PARIS)) == "2024-11-19T08:22:18Z"
    )
    # and in July UTC+2
    assert format_timestamp(datetime(2024, 7, 1, 2, 0, tzinfo=PARIS)) == "2024-07-01T00:00:00Z"
    minus = timezone(timedelta(hours=-5, minutes=-30))
    assert format_timestamp(datetime(2024, 12, 31, 20, 0, tzinfo=minus)) == "2025-01-01T01:30:00Z"


def test_format_timestamp_keeps_microseconds_only_when_present() -> None:
    assert format_timestamp(datetime(2023, 2, 15, 10, 47, 6, 5, tzinfo=UTC)) == (
        "2023-02-15T10:47:06.000005Z"
    )


def test_format_timestamp_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-19T08:22:18Z", datetime(2024, 11, 19, 8, 22, 18, tzinfo=UTC)),
        (" 2024-11-19T09:22:18+01:00 ", datetime(2024, 11, 19, 8, 22, 18, tzinfo=UTC)),
        ("2023-02-15T10:45:41+00:00", datetime(2023, 2, 15, 10, 45, 41, tzinfo=UTC)),
        ("2022-05-12T23:30:00-02:00", datetime(2022, 5, 13, 1, 30, tzinfo=UTC)),
        ("2023-02-15T10:47:06.000005Z", datetime(2023, 2, 15, 10, 47, 6, 5, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_converts_any_offset_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


def test_parse_timestamp_refuses_missing_offset_and_garbage() -> None:
    with pytest.raises(ValueError, match="has no offset"):
        parse_timestamp("2024-11-19T08:22:18")
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


# --- the record and its JSON form ------------------------------------------------------------


def test_state_is_the_state_fields_in_order(rec: StationRecord) -> None:
    assert rec.state == tuple(getattr(rec, name) for name in STATE_FIELDS)
    later = rec.replace(observed_at=rec.observed_at + timedelta(minutes=1))
    assert later.state == rec.state  # a new time alone is not a change of state
    assert rec.replace(bikes_available=rec.bikes_available + 1).state != rec.state
    assert list(rec.to_dict()) == list(FIELD_NAMES)


def test_json_form_of_a_real_station(
    rec: StationRecord, raw: tuple[dict[str, Any], dict[str, Any], int]
) -> None:
    info, status, feed = raw
    data = json.loads(to_json(rec))
    assert list(data) == list(FIELD_NAMES)
    assert data["schema_version"] == record.SCHEMA_VERSION
    assert data["station_code"] == status["stationCode"]
    assert data["station_id"] == status["station_id"]
    assert data["name"] == info["name"] and data["capacity"] == info["capacity"]
    assert (data["lat"], data["lon"]) == (info["lat"], info["lon"])
    assert data["bikes_available"] == status["num_bikes_available"]
    assert data["is_renting"] is bool(status["is_renting"])
    expected_reported = datetime.fromtimestamp(status["last_reported"], tz=UTC)
    assert data["last_reported"] == expected_reported.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["observed_at"] == datetime.fromtimestamp(feed, tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert data["source"] == "replay:gbfs"


def test_json_is_compact_utf8(rec: StationRecord) -> None:
    accented = rec.replace(name="Hôpital Mondor")
    value = to_json(accented)
    assert "Hôpital Mondor".encode() in value  # not \u00f4
    assert b": " not in value and b", " not in value
    assert to_json_dict(accented)["name"] == "Hôpital Mondor"


def test_json_round_trip(rec: StationRecord) -> None:
    assert from_json(to_json(rec)) == rec
    assert from_json(to_json(rec).decode()) == rec
    nulls = rec.replace(station_id=None, name=None, lat=None, commune=None, arrondissement=None)
    assert from_json(to_json(nulls)) == nulls


def test_huge_station_ids_survive_json() -> None:
    data = {**_minimal(), "station_id": 19179944124}
    assert from_json(json.dumps(data)).station_id == 19179944124


def _minimal() -> dict[str, Any]:
    """A hand-written JSON dict with only the required fields."""
    return {
        "schema_version": 1,
        "station_code": "16107",
        "bikes_available": 1,
        "docks_available": 34,
        "is_installed": True,
        "is_renting": True,
        "is_returning": False,
        "last_reported": "2024-11-19T07:35:04Z",
        "observed_at": "2024-11-19T09:22:18+01:00",
        "source": "gbfs",
    }


def test_nullable_fields_may_be_absent() -> None:
    built = from_json_dict(_minimal())
    assert built.station_id is None and built.capacity is None and built.name is None
    assert built.observed_at == datetime(2024, 11, 19, 8, 22, 18, tzinfo=UTC)
    assert built.is_returning is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bikes_available": None}, "bikes_available is required"),
        ({"station_code": ""}, "station_code is required"),
        ({"bikes_available": 2.5}, "bikes_available=2.5 is not an integer"),
        ({"capacity": True}, "capacity=True is not an integer"),
        ({"lat": False}, "lat=False is not a number"),
        ({"is_renting": 1}, "is_renting=1 is not a boolean"),
        ({"is_renting": "OUI"}, "is_renting='OUI' is not a boolean"),
        ({"last_reported": "2024-11-19T07:35:04"}, "has no offset"),
    ],
)
def test_bad_fields_raise_value_error_naming_them(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_json_dict({**_minimal(), **changes})


def test_a_count_that_is_no_number_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        from_json_dict({**_minimal(), "docks_available": "many"})


def test_missing_required_fields_are_all_named() -> None:
    data = _minimal()
    del data["station_code"], data["source"]
    with pytest.raises(ValueError, match="missing fields: station_code, source"):
        from_json_dict(data)


def test_lenient_but_exact_coercions() -> None:
    built = from_json_dict({**_minimal(), "capacity": 35.0, "is_renting": "TRUE", "lat": "48.5"})
    assert built.capacity == 35 and built.is_renting is True and built.lat == 48.5


# --- the CSV form ------------------------------------------------------------------------


def test_csv_header_is_the_field_names() -> None:
    assert CSV_HEADER == tuple(f.name for f in FIELDS)
    assert CSV_HEADER[0] == "schema_version" and "station_code" in CSV_HEADER


def test_csv_cells_by_hand() -> None:
    built = from_json_dict({**_minimal(), "lat": 48.865983, "lon": 2, "capacity": 35})
    cells = dict(zip(CSV_HEADER, to_csv_row(built), strict=True))
    assert cells["schema_version"] == "1" and cells["station_code"] == "16107"
    assert cells["lat"] == "48.865983" and cells["lon"] == "2.0"
    assert cells["capacity"] == "35" and cells["station_id"] == "" and cells["name"] == ""
    assert (cells["is_installed"], cells["is_returning"]) == ("true", "false")
    assert cells["observed_at"] == "2024-11-19T08:22:18Z"  # +01:00 rendered as UTC
    assert from_csv_row(to_csv_row(built)) == built


def test_fast_csv_path_agrees_or_declines(rec: StationRecord) -> None:
    assert csv_row_from_json_dict(to_json_dict(rec)) == to_csv_row(rec)
    data = to_json_dict(rec)
    for bad in (
        {"bikes_available": "1"},  # a string where an int belongs
        {"station_code": ""},
        {"is_renting": 1},
        {"last_reported": "2024-11-19T07:35:04"},  # no offset
        {"source": None},
    ):
        assert csv_row_from_json_dict({**data, **bad}) is None, bad


def test_csv_row_with_too_few_cells_is_refused(rec: StationRecord) -> None:
    with pytest.raises(ValueError, match=f"expected {len(FIELDS)} cells, got 3"):
        from_csv_row(to_csv_row(rec)[:3])


def test_pandas_dtypes_cover_every_field() -> None:
    dtypes = record.pandas_dtypes()
    assert list(dtypes) == list(FIELD_NAMES)
    assert dtypes["station_id"] == "Int64" and dtypes["is_renting"] == "boolean"
    assert dtypes["last_reported"] == "string" and dtypes["lat"] == "Float64"


def test_a_placeholder_code_is_recognised_and_a_real_code_is_not():
    from pipeline.record import is_placeholder, placeholder_code

    assert placeholder_code(210753033) == "id:210753033"
    assert is_placeholder(placeholder_code("37920"))
    assert not is_placeholder("16107") and not is_placeholder("31024_relais")
