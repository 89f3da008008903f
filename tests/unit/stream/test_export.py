"""stream.export: the research tables are the same bytes for the same rows, however stored.

The "stream tables" here are real recorded records written as Delta tables the
way a stream fills them (appends of a few rows in any order, file names that
change every run), sometimes compacted and vacuumed, sometimes with a file that
a killed write left behind and no commit refers to: the export must not see
the difference.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from pipeline.research.tables import read_table, status_frame
from pipeline.sources.recorded import read_recorded
from pipeline.stream.export import FILE_NAME, ORDER, WALL_CLOCK, export_tables
from pipeline.stream.microbatch import OUTPUTS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "opendata"
SNAPSHOTS = ("velib-opendata-2022-05-12T102218Z.csv.gz", "velib-opendata-2022-05-20T093925Z.csv")


@pytest.fixture(scope="module")
def status() -> pa.Table:
    """Real records of two snapshots on two UTC dates, as the status table's rows."""
    snapshots = [snap for name in SNAPSHOTS for snap in read_recorded(FIXTURES / name)]
    records = [r for snap in snapshots for r in snap.records]
    return pa.Table.from_pandas(status_frame(records), preserve_index=False)


def stream_like(table: pa.Table, root: Path, name: str, seed: int, compact: bool = False) -> None:
    """Write ``table`` as a stream's Delta table: shuffled rows, appended in random slices.

    A file no commit refers to (a killed write's) lies in a partition, and with
    ``compact`` the table is compacted and vacuumed, as a live run's would be.
    """
    rng = random.Random(seed)
    order = list(range(table.num_rows))
    rng.shuffle(order)
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    table = table.take(order).cast(pa.schema(fields))
    folder = root / name
    cuts = sorted(rng.sample(range(1, table.num_rows), min(3, table.num_rows - 1)))
    for lo, hi in zip([0, *cuts], [*cuts, table.num_rows], strict=True):
        write_deltalake(folder, table.slice(lo, hi - lo), mode="append", partition_by=["date"])
    day = sorted(p for p in folder.iterdir() if p.name.startswith("date="))[0]
    orphan = table.slice(0, 1).drop_columns(["date"])
    pq.write_table(orphan, day / f"part-{uuid.uuid4()}.snappy.parquet")  # never committed
    if compact:
        delta = DeltaTable(folder)
        delta.optimize.compact()
        delta.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    (root / "_checkpoints" / "offsets").mkdir(parents=True, exist_ok=True)


def files(root: Path) -> dict[str, bytes]:
    found = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in found}


def test_two_runs_with_other_files_and_row_order_export_the_same_bytes(tmp_path, status):
    stream_like(status, tmp_path / "run1", "status", seed=1)
    stream_like(status, tmp_path / "run2", "status", seed=2, compact=True)
    assert files(tmp_path / "run1" / "status") != files(tmp_path / "run2" / "status")
    rows = [export_tables(tmp_path / f"run{n}", tmp_path / f"out{n}", ["status"]) for n in (1, 2)]
    assert rows[0] == rows[1] == {"status": status.num_rows}
    one, two = files(tmp_path / "out1"), files(tmp_path / "out2")
    assert one == two
    assert sorted(one) == [f"status/date={d}/{FILE_NAME}" for d in ("2022-05-12", "2022-05-20")]


def test_the_export_holds_the_rows_sorted_typed_and_without_metadata(tmp_path, status):
    stream_like(status, tmp_path / "run", "status", seed=3)
    export_tables(tmp_path / "run", tmp_path / "out", ["status"])
    path = tmp_path / "out" / "status" / "date=2022-05-12" / FILE_NAME
    schema = pq.read_schema(path)
    assert set(schema.metadata or {}) <= {b"ARROW:schema"}  # no writer's or run's metadata
    assert schema.field("observed_at").type == pa.timestamp("us", tz="UTC")
    assert all(f.nullable for f in schema)
    rows = pq.read_table(path).to_pandas()
    keys = list(zip(rows["observed_at"], rows["station_code"], strict=True))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # Row for row what the stream wrote, read by the notebooks' reader.
    back = read_table(tmp_path / "out", "status")
    expected = read_table(tmp_path / "run", "status")
    assert back.shape == expected.shape == (status.num_rows, status.num_columns)
    assert back.equals(expected)


def test_every_output_table_has_a_stated_row_order():
    # a new output of the stream (pipeline.stream.microbatch.OUTPUTS) needs its key here
    assert set(OUTPUTS) <= set(ORDER), sorted(set(OUTPUTS) - set(ORDER))


def test_rejected_values_leave_the_replay_clock_out(tmp_path):
    rejected = pa.table(
        {
            "value": ["{", "not json", "{"],
            "key": ["a", None, "b"],
            "topic": ["velib.station_status"] * 3,
            "partition": pa.array([1, 0, 0], pa.int32()),
            "offset": pa.array([7, 9, 3], pa.int64()),
            "timestamp": pa.array([3, 2, 1], pa.timestamp("us")),  # when the replay produced it
            "reason": ["not JSON"] * 3,
            "date": ["2026-01-02", "2026-01-02", "2026-01-03"],  # the replay's date, too
        }
    )
    stream_like(rejected, tmp_path / "run", "_rejected", seed=4)
    assert export_tables(tmp_path / "run", tmp_path / "out", ["_rejected"]) == {"_rejected": 3}
    assert sorted(files(tmp_path / "out")) == [f"_rejected/{FILE_NAME}"]
    back = read_table(tmp_path / "out", "_rejected")
    assert not set(WALL_CLOCK["_rejected"]) & set(back.columns)
    assert list(zip(back["partition"], back["offset"], strict=True)) == [(0, 3), (0, 9), (1, 7)]


def test_a_table_without_rows_is_an_empty_folder_the_readers_accept(tmp_path):
    empty = pa.table({"station_code": pa.array([], pa.string()), "date": pa.array([], pa.date32())})
    write_deltalake(tmp_path / "run" / "alerts", empty, partition_by=["date"])  # created, no row
    (tmp_path / "out" / "stale").mkdir(parents=True)  # an earlier export is replaced whole
    assert export_tables(tmp_path / "run", tmp_path / "out", ["alerts", "_rejected"]) == {
        "alerts": 0,
        "_rejected": 0,
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["_rejected", "alerts"]
    assert files(tmp_path / "out") == {}
    assert len(read_table(tmp_path / "out", "alerts")) == 0
