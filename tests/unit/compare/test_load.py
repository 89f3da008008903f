"""pipeline.compare.load: sides, date ranges, mojibake repair, loading recorded folders/archives.

Snapshot sets are real recorded files (tests/fixtures) and an archive written with
pipeline.sources.archive.Archive from the recorded GBFS payloads; expected counts and times come
from reading the raw files directly.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipeline.compare.load import Side, load_snapshot_set, parse_dates, repair_text
from pipeline.research.tables import write_status_parquet
from pipeline.sources.archive import Archive, RawPoll

FIX = Path(__file__).resolve().parents[2] / "fixtures"
HISTORY = FIX / "history"
OPENDATA = FIX / "opendata"
GBFS = FIX / "gbfs"
NAME_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{6}Z)")


def _rows(path: Path) -> int:
    """Data rows of a recorded CSV (gzipped or not), counted without the project's code."""
    data = path.read_bytes()
    text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
    return sum(1 for _ in csv.DictReader(io.StringIO(text)))


def _name_time(path: Path) -> datetime:
    found = NAME_TIME.search(path.name)
    assert found is not None
    return datetime.strptime(found[1], "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)


# --- sides and date ranges -----------------------------------------------------------------


def test_side_labels() -> None:
    assert Side("data/raw").label() == "data/raw"
    assert Side("data/raw", rev="v1.0").label() == "v1.0:data/raw"
    days = (date(2022, 5, 12), date(2022, 5, 18))
    assert Side("data/raw", "HEAD~1", days).label() == "HEAD~1:data/raw [2022-05-12..2022-05-18]"
    assert Side("x", dates=days).label() == "x [2022-05-12..2022-05-18]"


def test_parse_dates_one_day_and_ranges_across_months() -> None:
    assert parse_dates("2022-05-31:2022-06-01") == (date(2022, 5, 31), date(2022, 6, 1))
    assert parse_dates("2024-02-29") == (date(2024, 2, 29), date(2024, 2, 29))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2022-13-01", "expected YYYY-MM-DD"),
        ("yesterday", "expected YYYY-MM-DD"),
        ("2022-05-12:soon", "expected YYYY-MM-DD"),
        ("2023-02-29", "expected YYYY-MM-DD"),
        ("2022-05-12:2022-05-11", "end before start"),
    ],
)
def test_parse_dates_refuses_bad_text_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_dates(text)
    assert repr(text) in str(err.value) and "\n" not in str(err.value)


# --- mojibake ----------------------------------------------------------------------------


def _mangle(text: str, times: int) -> str:
    for _ in range(times):
        text = text.encode("utf-8").decode("cp1252")
    return text


@pytest.mark.parametrize("name", ["Récollets", "Mairie du 10ème", "Hôpital Mondor", "Château"])
@pytest.mark.parametrize("times", [1, 2])
def test_repair_text_undoes_utf8_read_as_cp1252(name: str, times: int) -> None:
    mangled = _mangle(name, times)
    assert mangled != name
    assert repair_text(mangled) == name


def test_repair_text_matches_the_docstring_example() -> None:
    assert repair_text("RÃƒÂ©collets") == "Récollets"


@pytest.mark.parametrize(
    "value", [None, 42, 1.5, "Benjamin Godard - Victor Hugo", "Hôpital Mondor", "Saint-Mandé", ""]
)
def test_repair_text_leaves_clean_values_alone(value: object) -> None:
    assert repair_text(value) == value


def test_repair_text_leaves_undecodable_text_alone() -> None:
    # an 'Ã' followed by something that is no UTF-8 continuation: nothing to undo
    assert repair_text("Ã la carte") == "Ã la carte"
    assert repair_text("Âge") == "Âge"


# --- loading recorded folders ---------------------------------------------------------------


def test_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_snapshot_set(tmp_path / "nothing")


def test_history_folder_is_one_frame_of_every_row() -> None:
    files = sorted(HISTORY.glob("*.csv.gz"))
    df, rejected = load_snapshot_set(HISTORY)
    assert rejected == 0
    assert len(df) == sum(_rows(f) for f in files)
    assert sorted(df["observed_at"].unique()) == [pd.Timestamp(_name_time(f)) for f in files]
    per_time = df.groupby("observed_at").size().tolist()
    assert per_time == [_rows(f) for f in files]
    assert str(df["observed_at"].dtype) == "datetime64[ns, UTC]"
    assert set(df["date"]) == {"2022-05-13"}


def test_dates_are_paris_dates() -> None:
    """Thursday 22:40 and 23:39 UTC are Friday 13 May in Paris: the only Friday snapshots."""
    raw = FIX.parents[1] / "data" / "raw" / "opendata-history"
    friday = [f for f in sorted(raw.iterdir()) if f.name.startswith("velib-opendata-2022-05-12T2")]
    friday = [f for f in friday if _name_time(f).hour >= 22]
    assert [_name_time(f).date() for f in friday] == [date(2022, 5, 12)] * 2
    df, _ = load_snapshot_set(raw, (date(2022, 5, 13), date(2022, 5, 13)))
    assert sorted(df["observed_at"].unique()) == [pd.Timestamp(_name_time(f)) for f in friday]
    assert len(df) == sum(_rows(f) for f in friday)


def test_dates_keep_only_snapshots_of_those_days() -> None:
    files = {_name_time(f).date(): f for f in OPENDATA.iterdir() if NAME_TIME.search(f.name)}
    lo, hi = date(2022, 5, 20), date(2022, 6, 1)
    df, _ = load_snapshot_set(OPENDATA, (lo, hi))
    assert len(df) == sum(_rows(f) for day, f in files.items() if lo <= day <= hi)
    assert set(df["date"]) == {"2022-05-20", "2022-06-01"}
    empty, rejected = load_snapshot_set(OPENDATA, (date(2030, 1, 1), date(2030, 1, 2)))
    assert empty.empty and rejected == 0


def test_rejected_records_are_counted() -> None:
    df, rejected = load_snapshot_set(FIX / "malformed")
    assert df.empty and rejected == len(list((FIX / "malformed").iterdir()))


# --- an archive of polls -----------------------------------------------------------------


def _load_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    """Two archived GBFS polls on two UTC days, from the recorded 2024 and 2025 payloads."""
    store = Archive(tmp_path / "archive")
    for day in ("2024-11-19", "2025-10-18"):
        status = _load_json(GBFS / day / "station_status.json")
        info = _load_json(GBFS / day / "station_information.json")
        when = datetime.fromtimestamp(status["lastUpdatedOther"], tz=UTC)  # type: ignore[index]
        store.write(
            RawPoll(
                source="gbfs",
                origin=f"http://feed/{day}",
                observed_at=when,
                polled_at=when,
                payloads={"station_status": status, "station_information": info},
            )
        )
    store.close()
    return tmp_path / "archive"


def _codes(day: str) -> set[str]:
    status = _load_json(GBFS / day / "station_status.json")
    return {s["stationCode"] for s in status["data"]["stations"]}  # type: ignore[index]


def test_an_archive_loads_like_the_recorded_polls(archive_root: Path) -> None:
    df, rejected = load_snapshot_set(archive_root)
    assert rejected == 0
    assert len(df) == len(_codes("2024-11-19")) + len(_codes("2025-10-18"))
    assert set(df["source"]) == {"gbfs"}
    assert sorted(set(df["date"])) == ["2024-11-19", "2025-10-18"]


def test_an_archive_within_dates(archive_root: Path) -> None:
    day = (date(2025, 10, 18), date(2025, 10, 18))
    df, _ = load_snapshot_set(archive_root, day)
    assert set(df["station_code"]) == _codes("2025-10-18")
    assert set(df["date"]) == {"2025-10-18"}


def test_a_processed_root_is_read_and_filtered_like_raw(tmp_path: Path) -> None:
    raw, _ = load_snapshot_set(OPENDATA)
    write_status_parquet(raw, tmp_path / "processed")
    df, rejected = load_snapshot_set(tmp_path / "processed")
    assert rejected == 0 and len(df) == len(raw)
    one_day, _ = load_snapshot_set(tmp_path / "processed", (date(2022, 6, 3), date(2022, 6, 3)))
    assert len(one_day) == len(raw[raw["date"] == "2022-06-03"]) > 0
    assert set(one_day["date"]) == {"2022-06-03"}
