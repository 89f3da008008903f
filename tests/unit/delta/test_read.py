"""delta.read: a table folder as Arrow, Delta (any version) or Parquet, never a stray file.

The Delta tables are written here with deltalake itself (no JVM); the stream's
own, written by Spark, are read in tests/unit/stream and tests/integration.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from pipeline.delta.read import (
    arrow_dataset,
    commit_note,
    is_delta,
    read_arrow,
    read_note,
    resolve,
    span,
    tables_under,
)
from pipeline.settings.declare import BadInput


def rows(codes: list[str], day: str = "2022-05-12") -> pa.Table:
    return pa.table(
        {"station_code": codes, "bikes": list(range(len(codes))), "date": [day] * len(codes)}
    )


def two_versions(folder: Path) -> None:
    write_deltalake(folder, rows(["A", "B"]), partition_by=["date"])  # version 0
    write_deltalake(folder, rows(["C"], "2022-05-13"), mode="append", partition_by=["date"])  # 1


def test_a_delta_table_reads_only_what_its_log_holds(tmp_path: Path) -> None:
    two_versions(tmp_path / "t")
    stray = tmp_path / "t" / "date=2022-05-12" / f"part-{uuid.uuid4()}.parquet"
    pq.write_table(rows(["KILLED"]).drop_columns(["date"]), stray)  # a killed write's file
    assert is_delta(tmp_path / "t")
    table = read_arrow(tmp_path / "t")
    assert sorted(table["station_code"].to_pylist()) == ["A", "B", "C"]
    assert read_arrow(tmp_path / "t", ["bikes", "nope"]).column_names == ["bikes"]


def test_a_version_is_exact(tmp_path: Path) -> None:
    two_versions(tmp_path / "t")
    assert sorted(read_arrow(tmp_path / "t", as_of=0)["station_code"].to_pylist()) == ["A", "B"]
    assert read_arrow(tmp_path / "t", as_of=1).num_rows == 3
    with pytest.raises(ValueError, match="no version 7 to read: versions 0 .* to 1 .* hold rows"):
        read_arrow(tmp_path / "t", as_of=7)


def test_a_time_picks_the_version_by_its_log_file_time(tmp_path: Path) -> None:
    two_versions(tmp_path / "t")
    log = tmp_path / "t" / "_delta_log"
    first, second = datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC)
    for name, when in (("00000000000000000000.json", first), ("00000000000000000001.json", second)):
        os.utime(log / name, (when.timestamp(), when.timestamp()))  # what a copy would do
    between = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert read_arrow(tmp_path / "t", as_of=between).num_rows == 2
    assert read_arrow(tmp_path / "t", as_of=datetime(2026, 1, 2, tzinfo=UTC)).num_rows == 3
    with pytest.raises(ValueError, match="no 2025-01-01T00:00:00.000Z to read: versions 0"):
        read_arrow(tmp_path / "t", as_of=datetime(2025, 1, 1, tzinfo=UTC))


def created_then_written(folder: Path) -> None:
    """A table as the stream makes it: v0 the empty CREATE TABLE, then two writes."""
    from deltalake import DeltaTable

    DeltaTable.create(folder, rows(["A"]).schema, partition_by=["date"])
    write_deltalake(folder, rows(["A", "B"]), mode="append")  # version 1
    write_deltalake(folder, rows(["C"], "2022-05-13"), mode="append")  # version 2


def test_only_versions_with_rows_are_read_and_a_refusal_names_them(tmp_path: Path) -> None:
    created_then_written(tmp_path / "t")
    found = span(tmp_path / "t")
    assert found is not None and (found.first, found.last, found.empty_before) == (1, 2, True)
    assert [resolve(tmp_path / "t", v) for v in (1, 2)] == [1, 2]
    for asked in (0, 3, -1):
        with pytest.raises(BadInput) as refused:
            read_arrow(tmp_path / "t", as_of=asked)
        message = str(refused.value)
        assert "\n" not in message and "kernel" not in message.lower()
        assert f"no version {asked} to read: versions 1 (" in message
        assert "to 2 (" in message and "v0 is the empty table its creation committed" in message


def test_a_time_before_the_first_write_is_refused_too(tmp_path: Path) -> None:
    created_then_written(tmp_path / "t")
    log = tmp_path / "t" / "_delta_log"
    for version, hour in ((0, 10), (1, 11), (2, 12)):
        at = datetime(2026, 1, 1, hour, tzinfo=UTC).timestamp()
        os.utime(log / f"{version:020d}.json", (at, at))
    assert resolve(tmp_path / "t", datetime(2026, 1, 1, 11, 30, tzinfo=UTC)) == 1
    with pytest.raises(BadInput, match="no 2026-01-01T10:30:00.000Z to read: versions 1"):
        resolve(tmp_path / "t", datetime(2026, 1, 1, 10, 30, tzinfo=UTC))


def test_a_table_without_a_write_says_so(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    DeltaTable.create(tmp_path / "t", rows(["A"]).schema)
    assert span(tmp_path / "t") is None
    with pytest.raises(BadInput, match="no version 0 to read: no version holds rows yet"):
        resolve(tmp_path / "t", 0)


def test_a_parquet_export_is_read_as_files_and_has_no_versions(tmp_path: Path) -> None:
    folder = tmp_path / "status" / "date=2022-05-12"
    folder.mkdir(parents=True)
    pq.write_table(rows(["A"]).drop_columns(["date"]), folder / "part-0.parquet")
    assert not is_delta(tmp_path / "status")
    table = read_arrow(tmp_path / "status")
    assert table["station_code"].to_pylist() == ["A"] and "date" in table.column_names
    with pytest.raises(ValueError, match="not a Delta table"):
        read_arrow(tmp_path / "status", as_of=0)
    assert read_arrow(tmp_path / "missing") is None


def test_tables_are_found_at_any_depth(tmp_path: Path) -> None:
    for name in ("status", "alerts", "_checkpoints/state/records"):
        write_deltalake(tmp_path / name, rows(["A"]))
    found = [p.relative_to(tmp_path).as_posix() for p in tables_under(tmp_path)]
    assert found == ["_checkpoints/state/records", "alerts", "status"]
    assert tables_under(tmp_path / "status") == [tmp_path / "status"]


def test_the_commit_note_names_the_query_and_the_batch() -> None:
    note = commit_note("7f0c", 12)
    assert read_note(note) == {"batch_id": 12, "query_id": "7f0c"}
    assert read_note(None) == read_note("not json") == read_note("[1]") == {}


def test_a_dataset_of_a_delta_table_filters_its_newest_files_only(tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    two_versions(tmp_path / "t")
    write_deltalake(tmp_path / "t", rows(["D"]), mode="append", partition_by=["date"])
    DeltaTable(tmp_path / "t").optimize.compact()  # the replaced files stay on disk
    stray = tmp_path / "t" / "date=2022-05-12" / f"part-{uuid.uuid4()}.parquet"
    pq.write_table(rows(["KILLED"]).drop_columns(["date"]), stray)
    data = arrow_dataset(tmp_path / "t")
    kept = data.to_table(filter=ds.field("date").cast("string") >= "2022-05-12")
    assert sorted(kept["station_code"].to_pylist()) == ["A", "B", "C", "D"]  # each once
    later = data.to_table(filter=ds.field("date").cast("string") >= "2022-05-13")
    assert later["station_code"].to_pylist() == ["C"]
    assert arrow_dataset(tmp_path / "nothing") is None
