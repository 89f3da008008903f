"""stream.files: the add-action facts of the Parquet files Spark's tasks write into a table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.stream.files import HIVE_NULL, list_files, partition_of


def test_a_files_partition_is_read_from_its_hive_folder() -> None:
    assert partition_of("batch-3-ab/date=2022-05-12/part-0.parquet") == "2022-05-12"
    assert partition_of(f"batch-3-ab/date={HIVE_NULL}/part-0.parquet") is None
    assert partition_of("batch-3-ab/part-0.parquet") is None  # an unpartitioned table


def test_listed_files_are_the_parquet_ones_with_their_rows_and_relative_paths(
    tmp_path: Path,
) -> None:
    day = tmp_path / "batch-7-x" / "date=2022-05-12"
    day.mkdir(parents=True)
    pq.write_table(pa.table({"n": [1, 2, 3]}), day / "part-0.parquet")
    pq.write_table(pa.table({"n": [4]}), day / "part-1.parquet")
    (day / ".part-0.parquet.crc").write_bytes(b"crc")  # the local file system's checksums
    (tmp_path / "batch-7-x" / "_SUCCESS").write_bytes(b"")
    (tmp_path / "batch-8-y").mkdir()  # another attempt's folder: not this one's

    found = list_files(str(tmp_path), "batch-7-x")

    assert [(f.path, f.partition, f.rows) for f in found] == [
        ("batch-7-x/date=2022-05-12/part-0.parquet", "2022-05-12", 3),
        ("batch-7-x/date=2022-05-12/part-1.parquet", "2022-05-12", 1),
    ]
    assert found[0].size == (day / "part-0.parquet").stat().st_size
    assert json.loads(found[0].stats()) == {"numRecords": 3}
