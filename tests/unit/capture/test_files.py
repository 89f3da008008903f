"""pipeline.capture.files: message cells, part names, publish/discard, resume points, reading back.

Complements tests/unit/test_capture.py (round trips, quoting, parse_message reasons,
offsets file basics) with what it leaves out; records are real (tests/fixtures).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import record
from pipeline.capture.files import (
    CAPTURE_HEADER,
    OFFSETS_DIR,
    REJECT_HEADER,
    REJECTED_DIR,
    OutputFolder,
    PartWriter,
    message_cells,
    parse_part_name,
    parse_row,
    part_name,
    read_captured,
    read_rejected,
    render_reject,
    render_row,
)
from pipeline.sources.recorded import read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"
TOPIC = "velib.station_status"


@pytest.fixture(scope="module")
def recs() -> list[record.StationRecord]:
    snaps = list(read_recorded(FIX / "gbfs" / "2024-11-19"))
    return [r for snap in snaps for r in snap.records]


# --- rendering ------------------------------------------------------------------------------


def test_render_row_is_record_cells_then_coordinates(recs: list[record.StationRecord]) -> None:
    row = render_row(recs[0], TOPIC, 3, 2**40)
    assert len(row) == len(CAPTURE_HEADER)
    assert row[:-3] == record.to_csv_row(recs[0])
    assert row[-3:] == [TOPIC, "3", str(2**40)]
    back = parse_row(row)
    assert (back.record, back.topic, back.partition, back.offset) == (recs[0], TOPIC, 3, 2**40)


@pytest.mark.parametrize("delta", [-1, 1])
def test_parse_row_refuses_a_wrong_cell_count(recs: list[record.StationRecord], delta: int) -> None:
    row = render_row(recs[0], TOPIC, 0, 1)
    cells = row[:delta] if delta < 0 else [*row, "extra"]
    with pytest.raises(ValueError, match=f"expected {len(CAPTURE_HEADER)} cells"):
        parse_row(cells)


def test_message_cells_equal_the_record_path(recs: list[record.StationRecord]) -> None:
    for rec in recs:
        cells, folder = message_cells(record.to_json(rec))
        assert cells == record.to_csv_row(rec)
        assert folder == "date=" + rec.observed_at.astimezone(UTC).strftime("%Y-%m-%d")


def test_message_cells_take_the_slow_path_for_loosely_typed_values(
    recs: list[record.StationRecord],
) -> None:
    data = record.to_json_dict(recs[0])
    # counts as strings and a +02:00 time: valid, but not what ingest writes
    loose = {**data, "bikes_available": str(data["bikes_available"]),
             "observed_at": "2024-11-20T01:30:00+02:00"}  # fmt: skip
    cells, folder = message_cells(json.dumps(loose).encode())
    assert folder == "date=2024-11-19"  # the UTC date: 23:30 the day before
    assert cells[record.CSV_HEADER.index("observed_at")] == "2024-11-19T23:30:00Z"
    assert cells == record.to_csv_row(
        recs[0].replace(observed_at=datetime(2024, 11, 19, 23, 30, tzinfo=UTC))
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "tombstone"), (b"{", "not JSON"), (b'"text"', "not an object"),
     (b'{"station_code": "1"}', "missing fields")],
)  # fmt: skip
def test_message_cells_reject_with_the_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        message_cells(value)


def test_render_reject_keeps_utf8_text_and_odd_keys() -> None:
    row = render_reject(TOPIC, 0, 9, b"\xff16107", "café".encode(), "missing fields")
    assert dict(zip(REJECT_HEADER, row, strict=True)) == {
        "topic": TOPIC,
        "partition": "0",
        "offset": "9",
        "key": "\\xff16107",
        "reason": "missing fields",
        "encoding": "utf-8",
        "value": "café",
    }


# --- part names -----------------------------------------------------------------------------


def test_part_name_is_zero_padded_and_parses_back() -> None:
    assert part_name(3, 42) == "part-00003-000000000042.csv"
    assert parse_part_name(part_name(12345, 999_999_999_999)) == (12345, 999_999_999_999)


@pytest.mark.parametrize(
    "name",
    ["part-00003-000000000042.csv.tmp", ".part-00003-000000000042.csv.tmp",
     "part-3-42.txt", "partition-00003.json", "xpart-00003-000000000042.csv"],
)  # fmt: skip
def test_other_names_are_not_parts(name: str) -> None:
    assert parse_part_name(name) is None


# --- publishing -----------------------------------------------------------------------------


def _lines(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_published_part_has_the_header_once_and_crlf_lines(
    tmp_path: Path, recs: list[record.StationRecord]
) -> None:
    part = PartWriter(tmp_path / "date=2024-11-19", 0, 5, CAPTURE_HEADER)
    for offset, rec in enumerate(recs[:3], start=5):
        part.writer.writerow(render_row(rec, TOPIC, 0, offset))
    part.publish()
    assert part.final.name == part_name(0, 5) and not part.temp.exists()
    rows = _lines(part.final)
    assert rows[0] == list(CAPTURE_HEADER) and len(rows) == 4
    assert part.final.read_bytes().count(b"\r\n") == 4


def test_a_discarded_part_leaves_nothing(tmp_path: Path, recs: list[record.StationRecord]) -> None:
    part = PartWriter(tmp_path / "date=2024-11-19", 1, 0, CAPTURE_HEADER)
    part.writer.writerow(render_row(recs[0], TOPIC, 1, 0))
    part.discard()
    assert list((tmp_path / "date=2024-11-19").iterdir()) == []
    part.discard()  # twice is harmless


# --- the output folder: resume points ------------------------------------------------------


def test_a_new_folder_is_prepared_and_has_no_resume_point(tmp_path: Path) -> None:
    root = tmp_path / "out" / "csv"
    folder = OutputFolder(root, TOPIC)
    assert folder.parts() == [] and folder.published_offsets(0, None) == set()
    folder.prepare()
    assert (root / OFFSETS_DIR).is_dir()
    assert [folder.next_offset(p) for p in range(3)] == [None, None, None]


def test_offsets_file_says_which_topic_partition_and_when(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path, TOPIC)
    folder.prepare()
    before = datetime.now(UTC)
    folder.write_next_offset(7, 100)
    folder.write_next_offset(7, 250)  # replaced, not appended
    data = json.loads((tmp_path / OFFSETS_DIR / "partition-00007.json").read_text("utf-8"))
    assert (data["topic"], data["partition"], data["next_offset"]) == (TOPIC, 7, 250)
    assert before <= datetime.fromisoformat(data["updated_at"]) <= datetime.now(UTC)
    assert folder.next_offset(7) == 250 and folder.next_offset(6) is None
    folder.prepare()  # its own topic: accepted again
    assert sorted(p.name for p in (tmp_path / OFFSETS_DIR).iterdir()) == ["partition-00007.json"]


def test_resume_points_can_live_outside_the_csv_folder(tmp_path: Path) -> None:
    # velib run keeps them in its working folder: the CSV folder (a DVC output) holds data only
    root, offsets = tmp_path / "csv", tmp_path / "run" / "capture_offsets"
    folder = OutputFolder(root, TOPIC, offsets)
    folder.prepare()
    folder.write_next_offset(2, 40)
    assert sorted(p.name for p in offsets.iterdir()) == ["partition-00002.json"]
    assert list(root.iterdir()) == []
    assert OutputFolder(root, TOPIC, offsets).next_offset(2) == 40
    assert OutputFolder(root, TOPIC).next_offset(2) is None  # a different folder of resume points
    with pytest.raises(ValueError, match=TOPIC):
        OutputFolder(root, "another-topic", offsets).prepare()


def _publish(
    root: Path, folder: str, partition: int, rows: list[tuple[record.StationRecord, int]]
) -> Path:
    part = PartWriter(root / folder, partition, rows[0][1], CAPTURE_HEADER)
    for rec, offset in rows:
        part.writer.writerow(render_row(rec, TOPIC, partition, offset))
    part.publish()
    return part.final


def test_parts_are_listed_by_partition_then_offset_across_folders(
    tmp_path: Path, recs: list[record.StationRecord]
) -> None:
    a = _publish(tmp_path, "date=2024-11-20", 0, [(recs[0], 30)])
    b = _publish(tmp_path, "date=2024-11-19", 0, [(recs[1], 4)])
    c = _publish(tmp_path, "date=2024-11-19", 2, [(recs[2], 1)])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / part_name(0, 0)).write_text("ignored", encoding="utf-8")
    (tmp_path / "date=2024-11-19" / "README").write_text("ignored", encoding="utf-8")
    folder = OutputFolder(tmp_path, TOPIC)
    assert folder.parts() == [(b, 0, 4), (a, 0, 30), (c, 2, 1)]
    assert folder.parts(2) == [(c, 2, 1)]
    assert folder.parts(1) == []


def test_published_offsets_since_a_resume_point(
    tmp_path: Path, recs: list[record.StationRecord]
) -> None:
    _publish(tmp_path, "date=2024-11-19", 0, [(recs[0], 0), (recs[1], 1), (recs[2], 2)])
    _publish(tmp_path, "date=2024-11-19", 0, [(recs[3], 3), (recs[4], 5)])
    rejects = PartWriter(tmp_path / REJECTED_DIR, 0, 4, REJECT_HEADER)
    rejects.writer.writerow(render_reject(TOPIC, 0, 4, b"k", b"{", "not JSON"))
    rejects.publish()
    folder = OutputFolder(tmp_path, TOPIC)
    assert folder.published_offsets(0, None) == {0, 1, 2, 3, 4, 5}
    assert folder.published_offsets(0, 3) == {3, 4, 5}  # files starting at 3 and 4
    assert folder.published_offsets(0, 6) == set()
    assert folder.published_offsets(1, None) == set()


def test_stale_temps_of_rejects_are_removed_too(tmp_path: Path) -> None:
    stale = PartWriter(tmp_path / REJECTED_DIR, 4, 0, REJECT_HEADER)
    stale.fh.close()
    folder = OutputFolder(tmp_path, TOPIC)
    assert folder.remove_stale_temps(3) == 0 and stale.temp.exists()
    assert folder.remove_stale_temps(4) == 1 and not stale.temp.exists()


# --- reading back ---------------------------------------------------------------------------


def test_read_captured_reads_published_parts_only_in_file_order(
    tmp_path: Path, recs: list[record.StationRecord]
) -> None:
    _publish(tmp_path, "date=2024-11-20", 0, [(recs[2], 9)])
    _publish(tmp_path, "date=2024-11-19", 1, [(recs[1], 0)])
    _publish(tmp_path, "date=2024-11-19", 0, [(recs[0], 7)])
    unpublished = PartWriter(tmp_path / "date=2024-11-19", 0, 8, CAPTURE_HEADER)
    unpublished.writer.writerow(render_row(recs[3], TOPIC, 0, 8))
    unpublished.fh.flush()
    got = [(c.record, c.partition, c.offset) for c in read_captured(tmp_path)]
    assert got == [(recs[0], 0, 7), (recs[1], 1, 0), (recs[2], 0, 9)]
    assert list(read_captured(tmp_path / "nothing-here")) == []
    unpublished.discard()


def test_read_rejected_gives_dicts_of_the_reject_header(tmp_path: Path) -> None:
    part = PartWriter(tmp_path / REJECTED_DIR, 0, 1, REJECT_HEADER)
    part.writer.writerow(render_reject(TOPIC, 0, 1, None, None, "empty message (tombstone)"))
    part.writer.writerow(render_reject(TOPIC, 0, 2, b"16107", b"\xff", "not JSON"))
    part.publish()
    got = list(read_rejected(tmp_path))
    assert [(g["offset"], g["encoding"], g["value"]) for g in got] == [
        ("1", "null", ""),
        ("2", "base64", "/w=="),  # base64 of 0xff, by hand
    ]
    assert all(list(g) == list(REJECT_HEADER) for g in got)
