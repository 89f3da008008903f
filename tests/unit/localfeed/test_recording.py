"""pipeline.localfeed.recording: finding recorded snapshots by content, their order, the feed clock.

Recordings are built in tmp_path from copies of the real files in tests/fixtures; expected
times come from the file names and the raw GBFS payloads. (Clock speed and frame_index
under hypothesis are covered by tests/unit/test_feedserver.py.)
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.localfeed.recording import FeedClock, Frame, Recording, frame_index, load_recording
from pipeline.sources.normalize import Reference

FIX = Path(__file__).resolve().parents[2] / "fixtures"
HISTORY = FIX / "history"
GBFS = FIX / "gbfs"
EMPTY = Reference()
T0 = datetime(2022, 5, 13, 2, 44, 24, tzinfo=UTC)


def _feed_time(day: str) -> datetime:
    status = json.loads((GBFS / day / "station_status.json").read_text(encoding="utf-8"))
    return datetime.fromtimestamp(status["lastUpdatedOther"], tz=UTC)


# --- frame_index and the clock ------------------------------------------------------------


def test_frame_index_edges() -> None:
    times = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    assert frame_index(times, T0 - timedelta(days=1)) == 0  # before the first: the first
    assert frame_index(times, T0) == 0
    assert frame_index(times, T0 + timedelta(minutes=10)) == 1  # exactly on a snapshot
    assert frame_index(times, T0 + timedelta(minutes=19, seconds=59)) == 1
    assert frame_index(times, T0 + timedelta(days=365)) == 2  # after the last: the last


class ManualTime:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_seek_then_run_on_at_speed() -> None:
    times = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    real = ManualTime()
    clock = FeedClock(times, 60, now=real)
    clock.seek(1)
    assert clock.recorded_now() == times[1] and clock.index() == 1
    real.now += 9.5  # 570 recorded seconds
    assert clock.recorded_now() == times[1] + timedelta(seconds=570) and clock.index() == 1
    real.now += 0.5
    assert clock.index() == 2


def test_the_clock_stops_far_in_the_future_instead_of_overflowing() -> None:
    real = ManualTime()
    clock = FeedClock([T0], 1e12, now=real)
    real.now += 1e9
    assert clock.recorded_now() == T0 + timedelta(seconds=3.0e9)
    assert clock.index() == 0


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -0.5])
def test_the_clock_refuses_bad_speeds(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be a finite number >= 0"):
        FeedClock([T0], speed)


def test_the_clock_needs_a_time() -> None:
    with pytest.raises(ValueError, match="at least one snapshot time"):
        FeedClock([], 1)


# --- a recording -------------------------------------------------------------------------


def test_a_recording_needs_a_frame() -> None:
    with pytest.raises(ValueError, match="at least one snapshot"):
        Recording([], EMPTY)


def test_history_files_in_time_order_with_ids_relative_to_the_root() -> None:
    rec = load_recording(HISTORY, EMPTY)
    names = sorted(p.name for p in HISTORY.iterdir())
    assert len(rec) == len(names)
    assert [f.id for f in rec.frames] == names
    assert [f.index for f in rec.frames] == list(range(len(names)))
    assert rec.times[0] == T0
    assert all(f.kind == "history" and f.info_path is None for f in rec.frames)
    assert list(rec.times) == sorted(rec.times)


def test_gbfs_folders_and_history_files_together(tmp_path: Path) -> None:
    shutil.copytree(GBFS, tmp_path / "gbfs")
    shutil.copy(HISTORY / "velib-opendata-2022-05-13T024424Z.csv.gz", tmp_path)
    (tmp_path / "README.md").write_text("# notes", encoding="utf-8")
    (tmp_path / ".hidden.json").write_text("{}", encoding="utf-8")
    (tmp_path / "SHA256SUMS").write_text("abc  file\n", encoding="utf-8")
    rec = load_recording(tmp_path, EMPTY)
    assert [(f.kind, f.id) for f in rec.frames] == [
        ("history", "velib-opendata-2022-05-13T024424Z.csv.gz"),
        ("gbfs", "gbfs/2024-11-19"),
        ("gbfs", "gbfs/2025-10-18"),
    ]
    assert rec.times[1:] == (_feed_time("2024-11-19"), _feed_time("2025-10-18"))
    gbfs = rec.frames[1]
    assert gbfs.path == tmp_path / "gbfs/2024-11-19/station_status.json"
    assert gbfs.info_path == tmp_path / "gbfs/2024-11-19/station_information.json"


def test_files_are_recognised_by_content_not_name(tmp_path: Path) -> None:
    day = tmp_path / "day"
    day.mkdir()
    status = (GBFS / "2025-10-18" / "station_status.json").read_bytes()
    (day / "a.json.gz").write_bytes(gzip.compress(status))
    (day / "b.json").write_bytes((GBFS / "2025-10-18" / "station_information.json").read_bytes())
    rec = load_recording(tmp_path, EMPTY)
    assert len(rec) == 1
    frame = rec.frames[0]
    assert (frame.kind, frame.path.name, frame.info_path) == ("gbfs", "a.json.gz", day / "b.json")
    assert rec.times == (_feed_time("2025-10-18"),)


def test_information_alone_is_skipped_and_status_alone_is_served_empty(tmp_path: Path) -> None:
    (tmp_path / "info-only").mkdir()
    shutil.copy(GBFS / "2024-11-19" / "station_information.json", tmp_path / "info-only")
    with pytest.raises(ValueError, match="no GBFS snapshot or open-data history file"):
        load_recording(tmp_path, EMPTY)
    (tmp_path / "status-only").mkdir()
    shutil.copy(GBFS / "2024-11-19" / "station_status.json", tmp_path / "status-only")
    rec = load_recording(tmp_path, EMPTY)
    assert [f.id for f in rec.frames] == ["status-only"] and rec.frames[0].info_path is None
    assert rec.payloads(0).information == []


def test_a_history_file_without_a_time_in_its_name_uses_its_latest_report(tmp_path: Path) -> None:
    text = (FIX / "opendata" / "velib-opendata-2022-06-03T003427Z.csv").read_text("utf-8")
    (tmp_path / "export.csv").write_text(text, encoding="utf-8")
    rec = load_recording(tmp_path / "export.csv", EMPTY)  # a single file is a recording too
    assert [f.id for f in rec.frames] == ["export.csv"]
    # the file's latest "Actualisation de la donnée" (naive Paris time), in UTC
    stamps = [r["Actualisation de la donnée"] for r in csv.DictReader(io.StringIO(text))]
    latest = max(datetime.fromisoformat(s) for s in stamps).replace(tzinfo=ZoneInfo("Europe/Paris"))
    assert rec.times == (latest.astimezone(UTC),)


def test_nothing_servable_is_a_value_error_and_a_missing_path_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_recording(tmp_path / "missing", EMPTY)
    for name in ("error-page.json", "truncated-status.json", "unknown-layout.csv"):
        shutil.copy(FIX / "malformed" / name, tmp_path)
    shutil.copytree(FIX / "seed", tmp_path / "seed")  # the v1 table is not servable
    with pytest.raises(ValueError, match="no GBFS snapshot or open-data history file"):
        load_recording(tmp_path, EMPTY)


def test_a_zip_archive_named_csv_is_not_a_history_file(tmp_path: Path) -> None:
    shutil.copy(FIX / "malformed" / "export-is-zip.csv", tmp_path)
    with pytest.raises(ValueError, match="no GBFS snapshot or open-data history file"):
        load_recording(tmp_path, EMPTY)


def test_payloads_are_built_on_demand_and_cached(tmp_path: Path) -> None:
    rec = load_recording(HISTORY, EMPTY)
    first = rec.payloads(0)
    assert rec.payloads(0) is first
    assert len(first.status) == len(first.records) == len(first.information) > 0
    assert first.info_updated == int(T0.timestamp())


def test_frames_are_plain_values() -> None:
    frame = Frame(0, "x", T0, "history", Path("x.csv"))
    assert frame.info_path is None
    with pytest.raises(AttributeError):
        frame.index = 1  # type: ignore[misc]
