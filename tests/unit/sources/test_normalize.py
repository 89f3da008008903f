"""Validation rules of pipeline.sources.normalize, on real rows bent the way feeds break."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.sources.normalize import (
    Reference,
    RowError,
    load_reference,
    paris_local_to_utc,
    parse_latlon,
    to_count,
    to_flag,
)
from pipeline.sources.recorded import parse_gbfs

FIX = Path(__file__).resolve().parents[2] / "fixtures"
DAY = FIX / "gbfs/2024-11-19"


@pytest.fixture(scope="module")
def payloads():
    info = json.loads((DAY / "station_information.json").read_text())
    status = json.loads((DAY / "station_status.json").read_text())
    return info, status


def parse(info, status):
    return parse_gbfs(info, status, origin="test", source="replay:gbfs")


def bend(status, index, **changes):
    bent = copy.deepcopy(status)
    bent["data"]["stations"][index].update(changes)
    return bent


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"num_bikes_available": -1}, "negative bikes_available (-1)"),
        ({"num_docks_available": 5000}, "docks_available above 300 (5000)"),
        ({"stationCode": "", "station_id": None}, "missing station code"),
        ({"last_reported": "yesterday"}, "unparseable last_reported ('yesterday')"),
        ({"is_renting": "maybe"}, "unparseable is_renting ('maybe')"),
        ({"last_reported": 1732004538 + 3600}, "in the future of observed_at"),
    ],
)
def test_untrusted_row_rejected_with_reason_rest_kept(payloads, changes, reason):
    info, status = payloads
    snap = parse(info, bend(status, 0, **changes))
    assert len(snap.records) == 19 and len(snap.rejects) == 1
    assert reason in snap.rejects[0].reason
    assert snap.rejects[0].raw["last_reported"] == bent_row(status, changes)["last_reported"]


def test_missing_code_falls_back_to_information_file(payloads):
    info, status = payloads
    bent = copy.deepcopy(status)
    del bent["data"]["stations"][0]["stationCode"]
    assert parse(info, bent).records[0].station_code == "16107"


def test_duplicate_station_identical_kept_once_conflicting_rejected(payloads):
    info, status = payloads
    twice = copy.deepcopy(status)
    twice["data"]["stations"].append(copy.deepcopy(status["data"]["stations"][0]))
    snap = parse(info, twice)
    assert len(snap.records) == 20 and snap.oddities["duplicate_identical"] == 1
    conflict = copy.deepcopy(twice)
    conflict["data"]["stations"][-1]["num_bikes_available"] += 1
    snap = parse(info, conflict)
    assert len(snap.records) == 19 and len(snap.rejects) == 2
    assert all("duplicated in one snapshot" in r.reason for r in snap.rejects)


def test_real_oddities_kept(payloads):
    info, status = payloads
    snap = parse(info, status)
    zero = [r for r in snap.records if r.capacity == 0]
    assert len(zero) == 3  # capacity 0 is real: kept, counted
    assert snap.oddities["bikes_docks_ne_capacity"] > 0


def test_not_a_station_list_raises_snapshot_error(payloads):
    from pipeline.sources.recorded import SnapshotError

    with pytest.raises(SnapshotError, match="without data.stations"):
        parse(payloads[0], {"lastUpdatedOther": 1, "ttl": 3600})


def test_converters():
    assert [to_flag(v, "f") for v in (1, "0", "OUI", "NON", True)] == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert to_count("", "capacity", required=False) is None
    with pytest.raises(RowError, match="unparseable capacity"):
        to_count("3.5", "capacity")
    # Europe/Paris: UTC+2 in summer, UTC+1 in winter; explicit offsets honoured
    assert paris_local_to_utc("2022-05-12 11:19:02", "t") == datetime(
        2022, 5, 12, 9, 19, 2, tzinfo=UTC
    )
    assert paris_local_to_utc("2023-02-15 11:00:00", "t") == datetime(2023, 2, 15, 10, tzinfo=UTC)
    assert paris_local_to_utc("2023-02-15T10:45:41+00:00", "t").hour == 10
    with pytest.raises(RowError):
        paris_local_to_utc("not a time", "t")
    assert parse_latlon("48.87,2.30") == (48.87, 2.30)
    assert parse_latlon("[48.86785, 2.446748]") == (48.86785, 2.446748)
    assert parse_latlon({"lon": 2.3, "lat": 48.8}) == (48.8, 2.3)
    assert parse_latlon("garbage") == (None, None)


def test_commune_rule():
    ref = load_reference()
    assert ref.locate("16107") == ("Paris", 16)
    assert ref.locate("19043") == ("Pantin", None)  # border station, from the table
    assert ref.locate("31024") == ("Montreuil", None)
    empty = Reference()
    assert empty.locate("9020") == ("Paris", 9)  # not in a table: prefix rule
    assert empty.locate("44015") == (None, None)
    assert empty.locate("31024_relais") == (None, None)


def bent_row(status, changes):
    return {**status["data"]["stations"][0], **changes}
