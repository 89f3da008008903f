"""Capture files on real recorded records: rendering, parsing, naming, the folder."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline import record
from pipeline.capture.files import (
    CAPTURE_HEADER,
    LINE_END,
    REJECT_HEADER,
    REJECTED_DIR,
    OutputFolder,
    PartWriter,
    date_folder,
    pandas_read_options,
    parse_message,
    parse_part_name,
    parse_row,
    read_captured,
    read_rejected,
    render_reject,
    render_row,
)
from pipeline.sources.recorded import read_recorded

# The bundled real sample (data/raw, see its README): whole files, so real names
# with apostrophes, commas and quotes are in them.
RAW = Path(__file__).resolve().parents[3] / "data" / "raw"
OPENDATA = RAW / "opendata-history" / "velib-opendata-2022-05-12T102218Z.csv.gz"
OPENDATA_JUNE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "opendata"
    / ("velib-opendata-2022-06-03T003427Z.csv")
)
GBFS = RAW / "gbfs" / "2025-10-18"


def _records(path: Path, n: int | None = None) -> list[record.StationRecord]:
    found = (r for snap in read_recorded(path) for r in snap.records)
    return list(itertools.islice(found, n))


@pytest.fixture(scope="module")
def real_records() -> list[record.StationRecord]:
    return _records(OPENDATA) + _records(OPENDATA_JUNE, 200) + _records(GBFS, 300)


def _write_rows(rows: list[list[str]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=LINE_END)
    writer.writerow(CAPTURE_HEADER)
    writer.writerows(rows)
    return buf.getvalue()


def test_header_is_the_record_header_then_kafka_coordinates():
    assert CAPTURE_HEADER == (*record.CSV_HEADER, "topic", "partition", "offset")


def test_real_records_round_trip_through_a_csv_row(real_records):
    rows = [render_row(r, "velib.station_status", 2, i) for i, r in enumerate(real_records)]
    text = _write_rows(rows)
    back = [parse_row(cells) for cells in list(csv.reader(io.StringIO(text, newline="")))[1:]]
    assert [b.record for b in back] == real_records
    assert [(b.topic, b.partition, b.offset) for b in back] == [
        ("velib.station_status", 2, i) for i in range(len(real_records))
    ]


def test_names_with_apostrophes_commas_and_quotes_are_quoted_per_rfc4180(real_records):
    apostrophe = next(r for r in real_records if "'" in (r.name or ""))
    tricky = apostrophe.replace(name='Gare de l\'Est, "quai" 1')
    text = _write_rows([render_row(tricky, "t", 0, 7)])
    assert '"Gare de l\'Est, ""quai"" 1"' in text
    assert text.endswith("\r\n") and text.count("\r\n") == 2  # RFC 4180 line ends
    assert (
        parse_row(next(itertools.islice(csv.reader(io.StringIO(text)), 1, None))).record == tricky
    )


def test_parse_message_reads_the_json_form(real_records):
    for r in real_records[:50]:
        assert parse_message(record.to_json(r)) == r


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"\xff\xfe not utf-8", "not JSON"),
        (b"{truncated", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"station_code": "16107"}', "missing fields"),
    ],
)
def test_parse_message_rejects_with_a_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        parse_message(value)


def test_parse_message_rejects_a_record_with_a_bad_field(real_records):
    data = record.to_json_dict(real_records[0]) | {"bikes_available": "many"}
    with pytest.raises(ValueError):
        parse_message(json.dumps(data).encode())


def test_reject_row_keeps_bytes_that_are_not_utf8():
    raw = b"\xff\x00garbage"
    row = render_reject("t", 1, 5, b"16107", raw, "not JSON")
    assert row[:6] == ["t", "1", "5", "16107", "not JSON", "base64"]
    import base64

    assert base64.b64decode(row[6]) == raw
    assert render_reject("t", 1, 6, None, None, "tombstone")[3:6] == ["", "tombstone", "null"]


def test_date_folder_is_the_utc_date_of_the_snapshot(real_records):
    r = real_records[0]
    assert date_folder(r) == "date=2022-05-12"
    late = r.replace(observed_at=record.parse_timestamp("2022-05-12T23:30:00-02:00"))
    assert date_folder(late) == "date=2022-05-13"


def test_part_names_parse_and_sort_by_partition_then_offset():
    names = [PartWriter.name_for(p, o) for p, o in [(10, 5), (2, 1000), (2, 99)]]
    assert sorted(names) == [
        PartWriter.name_for(2, 99),
        PartWriter.name_for(2, 1000),
        PartWriter.name_for(10, 5),
    ]
    assert [parse_part_name(n) for n in names] == [(10, 5), (2, 1000), (2, 99)]
    assert parse_part_name(".part-00002-000000000099.csv.tmp") is None


def _publish(root: Path, folder: str, partition: int, rows: list[tuple[record.StationRecord, int]]):
    first = rows[0][1]
    part = PartWriter(root / folder, partition, first, CAPTURE_HEADER)
    for r, offset in rows:
        part.writer.writerow(render_row(r, "topic-a", partition, offset))
    part.publish()
    return part.final


def test_a_part_is_invisible_until_published(tmp_path, real_records):
    part = PartWriter(tmp_path / "date=2022-05-12", 0, 0, CAPTURE_HEADER)
    part.writer.writerow(render_row(real_records[0], "topic-a", 0, 0))
    assert list(tmp_path.glob("date=*/*.csv")) == []
    assert [p.name for p in (tmp_path / "date=2022-05-12").iterdir()] == [part.temp.name]
    part.publish()
    assert [p.name for p in (tmp_path / "date=2022-05-12").iterdir()] == [part.final.name]
    again = PartWriter(tmp_path / "date=2022-05-12", 0, 0, CAPTURE_HEADER)
    with pytest.raises(RuntimeError, match="already exists"):
        again.publish()


def test_pandas_reads_published_files_with_consistent_types(tmp_path, real_records):
    rows = [(r, i) for i, r in enumerate(real_records[:100])]
    path = _publish(tmp_path, "date=2022-05-12", 3, rows)
    frame = pd.read_csv(path, **pandas_read_options())
    assert list(frame.columns) == list(CAPTURE_HEADER)
    assert len(frame) == 100
    assert frame["bikes_available"].tolist() == [r.bikes_available for r, _ in rows]
    assert frame["is_renting"].dtype == "boolean"
    assert frame["name"].tolist() == [r.name for r, _ in rows]
    assert frame["offset"].tolist() == list(range(100))
    assert [c.record for c in read_captured(tmp_path)] == [r for r, _ in rows]


def test_folder_offsets_file_and_topic_guard(tmp_path):
    folder = OutputFolder(tmp_path, "topic-a")
    folder.prepare()
    assert folder.next_offset(1) is None
    folder.write_next_offset(1, 42)
    assert folder.next_offset(1) == 42
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "_offsets").iterdir())
    with pytest.raises(ValueError, match="topic-a"):
        OutputFolder(tmp_path, "topic-b").prepare()


def test_folder_finds_published_offsets_and_removes_only_its_partitions_temps(
    tmp_path, real_records
):
    folder = OutputFolder(tmp_path, "topic-a")
    _publish(tmp_path, "date=2022-05-12", 0, [(real_records[0], 10), (real_records[1], 12)])
    _publish(tmp_path, "date=2022-05-13", 0, [(real_records[2], 11)])
    _publish(tmp_path, "date=2022-05-12", 1, [(real_records[3], 10)])
    rej = PartWriter(tmp_path / REJECTED_DIR, 0, 13, REJECT_HEADER)
    rej.writer.writerow(render_reject("topic-a", 0, 13, None, b"oops", "not JSON"))
    rej.publish()
    assert folder.published_offsets(0, None) == {10, 11, 12, 13}
    assert folder.published_offsets(0, 11) == {11, 13}
    assert folder.published_offsets(1, None) == {10}
    assert [row["value"] for row in read_rejected(tmp_path)] == ["oops"]
    stale0 = PartWriter(tmp_path / "date=2022-05-12", 0, 20, CAPTURE_HEADER)
    stale1 = PartWriter(tmp_path / "date=2022-05-12", 1, 20, CAPTURE_HEADER)
    assert folder.remove_stale_temps(0) == 1
    assert not stale0.temp.exists() and stale1.temp.exists()
