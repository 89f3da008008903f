"""A recording's clock: the time in its file names, in the zone its manifest names.

Hand-made answers (real records, ``conftest.py``) named the way the 5-minute
collector named its files: local Paris time, across the end of summer time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.clock import ClockError, local_to_utc
from pipeline.sources.manifest import (
    DEFAULT,
    Manifest,
    ManifestError,
    manifest_of,
    parse_manifest,
)
from pipeline.sources.recorded import read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_names_in_paris_time_around_the_last_sunday_of_october(recording, real_rows):
    # 01:55 is still summer time (UTC+2), 03:05 is winter time (UTC+1): 1 h 10 min on the
    # wall clock, 2 h 10 min of real time between the two answers.
    before = [dict(r, duedate="2024-10-27T01:50:00+02:00") for r in real_rows]
    after = [
        dict(r, duedate="2024-10-27T03:00:00+01:00", numbikesavailable=r["numbikesavailable"] + 1)
        for r in real_rows
    ]
    recording("20241027_015500", before)
    path = recording("20241027_030500", after)
    first, second = read_recorded(path.parent)
    assert first.observed_at == utc(2024, 10, 26, 23, 55)
    assert second.observed_at == utc(2024, 10, 27, 2, 5)
    assert second.observed_at - first.observed_at == timedelta(hours=2, minutes=10)
    assert {r.observed_at for r in second.records} == {second.observed_at}
    assert len(first.records) == len(second.records) == 4 and second.reread is None


def test_a_november_name_is_utc_plus_one_and_the_duedate_is_not_the_clock(recording, real_rows):
    path = recording("20241104_101001", real_rows)  # duedates of these rows: 09:5x Paris
    (snap,) = read_recorded(path.parent)
    assert snap.observed_at == utc(2024, 11, 4, 9, 10, 1)
    assert max(r.last_reported for r in snap.records) < snap.observed_at


def test_the_file_modification_time_is_never_the_clock(recording, real_rows):
    path = recording("20241104_101001", real_rows)
    os.utime(path, (0, 0))  # 1970
    (snap,) = read_recorded(path.parent)
    assert snap.observed_at == utc(2024, 11, 4, 9, 10, 1)


@pytest.mark.parametrize(
    ("name", "what", "placed"),
    [
        ("20241027_023000", "ambiguous", utc(2024, 10, 27, 0, 30)),  # 02:30 happened twice
        ("20250330_023000", "nonexistent", utc(2025, 3, 30, 0, 30)),  # 02:30 never happened
    ],
)
def test_a_name_in_an_hour_of_dst_change_is_refused_with_its_reason(
    recording, real_rows, name, what, placed
):
    path = recording(name, real_rows)
    (snap,) = read_recorded(path.parent)
    assert snap.records == [] and len(snap.rejects) == 1
    assert what in snap.rejects[0].reason and "Europe/Paris" in snap.rejects[0].reason
    assert snap.rejects[0].origin.endswith(path.name)
    assert snap.observed_at == placed  # only where the refusal sits in the replay


def test_local_to_utc_refuses_both_readings_and_converts_the_rest():
    with pytest.raises(ClockError, match="ambiguous") as caught:
        local_to_utc(datetime(2024, 10, 27, 2, 59), "Europe/Paris")  # noqa: DTZ001
    assert caught.value.at == utc(2024, 10, 27, 0, 59)  # the first of the two
    assert local_to_utc(datetime(2024, 10, 27, 3, 0), "Europe/Paris") == utc(2024, 10, 27, 2)  # noqa: DTZ001
    assert local_to_utc(datetime(2024, 10, 27, 1, 59), "Europe/Paris") == utc(2024, 10, 26, 23, 59)  # noqa: DTZ001
    assert local_to_utc(datetime(2025, 3, 30, 3, 0), "Europe/Paris") == utc(2025, 3, 30, 1)  # noqa: DTZ001


def test_a_file_whose_name_has_no_clock_stops_the_replay_with_one_line(recording, real_rows):
    path = recording("20241104_101001", real_rows)
    path.with_name("answer.json.gz").write_bytes(path.read_bytes())
    with pytest.raises(ManifestError, match=r"answer\.json\.gz.*velib_data_%Y%m%d_%H%M%S"):
        list(read_recorded(path.parent))


def test_content_that_is_not_the_declared_format_is_a_failed_snapshot(recording, real_rows):
    path = recording("20241104_101001", real_rows)
    csv_file = FIX / "opendata" / "velib-opendata-2022-06-03T003427Z.csv"
    path.with_name("velib_data_20241104_101502.csv").write_bytes(csv_file.read_bytes())
    good, wrong = read_recorded(path.parent)
    assert len(good.records) == 4
    assert wrong.records == [] and "content is opendata-csv" in wrong.rejects[0].reason


def test_a_folder_without_manifest_keeps_utc_names():
    # the recordings of data/raw before 2024: UTC time in the name, no manifest
    history = FIX / "history"
    assert manifest_of(history) is DEFAULT
    first = next(read_recorded(history))
    assert first.observed_at == utc(2022, 5, 13, 2, 44, 24)
    assert DEFAULT.name_time("velib-opendata-2022-05-13T024424Z.csv.gz") == first.observed_at


def test_the_5_minute_recording_reads_its_own_manifest():
    manifest = manifest_of(FIX / "opendata-5min")
    assert manifest == Manifest(
        names="velib_data_%Y%m%d_%H%M%S",
        zone="Europe/Paris",
        format="opendata-api",
        rereads="unchanged",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"names": "velib_%Y%m%d", "zone": "Europe/Paris"}, "needs %Y %m %d %H %M"),
        ({"names": "v_%Y%m%d_%H%M_%j", "zone": "UTC"}, "nothing else"),
        ({"zone": "Europe/Lutece"}, "not an IANA time zone"),
        ({"rereads": "sometimes"}, "identical, unchanged"),
        ({"format": "xml"}, "opendata-api"),
        ({"zone": "UTC", "timezone": "UTC"}, "unknown key"),
        (["names"], "a mapping"),
    ],
)
def test_a_manifest_the_reader_cannot_follow_is_refused_with_the_reason(data, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data)
