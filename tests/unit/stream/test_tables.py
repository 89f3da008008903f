"""stream.tables: each batch committed once to each Delta table, through delta-rs (no JVM).

The tables are written the way ``foreachBatch`` writes them (one commit per
table and batch, keyed by the query id and the batch id) and cut where a
``kill -9`` would; then read with ``deltalake``, as every reader does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from pipeline.delta.read import read_note
from pipeline.stream.files import list_files
from pipeline.stream.tables import DeltaTables, loose

SCHEMA = pa.schema([("code", pa.string()), ("bikes", pa.int32()), ("date", pa.date32())])
DAY = dt.date(2022, 5, 12)


def tables_at(root: Path) -> DeltaTables:
    """The tables as a (re)started stream opens them."""
    tables = DeltaTables(str(root), {"status": SCHEMA, "alerts": SCHEMA}, retain_hours=168)
    tables.ensure()
    return tables


def rows(*codes: str, bikes: int = 1) -> pa.Table:
    return pa.table(
        {"code": list(codes), "bikes": [bikes] * len(codes), "date": [DAY] * len(codes)},
        schema=SCHEMA,
    )


def content(root: Path, name: str) -> list[tuple]:
    frame = DeltaTable(str(root / name)).to_pandas()
    return sorted(frame[["code", "bikes"]].itertuples(index=False, name=None))


def batches_written(path: Path) -> list[int]:
    """The batch of every stream commit of a table, oldest first."""
    notes = [read_note(c.get("userMetadata")) for c in DeltaTable(str(path)).history()]
    return sorted(n["batch_id"] for n in notes if "batch_id" in n)


def test_a_batch_is_one_commit_per_table_and_a_replay_writes_nothing(tmp_path: Path) -> None:
    tables = tables_at(tmp_path)
    first = tables.commit_all({"status": rows("A", "B"), "alerts": rows("A")}, "query-1", 0)
    assert [(c.table, c.rows, c.written) for c in first] == [
        ("status", 2, True),
        ("alerts", 1, True),
    ]
    tables.commit_all({"status": rows("C"), "alerts": rows("C")}, "query-1", 1)
    versions = {n: DeltaTable(str(tmp_path / n)).version() for n in ("status", "alerts")}

    # batch 1 again, as Spark replays it after a crash, from a restarted process; even with
    # other rows (a replay computes the same ones; different rows show nothing is written)
    again = tables_at(tmp_path).commit_all({"status": rows("C", "D", bikes=9)}, "query-1", 1)

    assert [(c.table, c.rows, c.written) for c in again] == [("status", 2, False)]
    assert {n: DeltaTable(str(tmp_path / n)).version() for n in versions} == versions
    assert content(tmp_path, "status") == [("A", 1), ("B", 1), ("C", 1)]
    assert batches_written(tmp_path / "status") == [0, 1]


def test_a_crash_between_two_tables_is_repaired_by_the_replay(tmp_path: Path) -> None:
    tables = tables_at(tmp_path)
    tables.commit_all({"status": rows("A"), "alerts": rows("A")}, "query-1", 0)
    tables.commit("status", rows("B"), "query-1", 1)  # batch 1: status committed, then killed

    restarted = tables_at(tmp_path)
    replay = restarted.commit_all({"status": rows("B"), "alerts": rows("B")}, "query-1", 1)

    assert {c.table: c.written for c in replay} == {"status": False, "alerts": True}
    assert content(tmp_path, "status") == content(tmp_path, "alerts") == [("A", 1), ("B", 1)]
    assert batches_written(tmp_path / "status") == batches_written(tmp_path / "alerts") == [0, 1]


def test_a_new_query_on_a_new_checkpoint_writes_again_from_batch_zero(tmp_path: Path) -> None:
    tables = tables_at(tmp_path)
    tables.commit("status", rows("A"), "query-1", 0)
    assert tables.commit("status", rows("B"), "query-2", 0).written  # another app id
    assert content(tmp_path, "status") == [("A", 1), ("B", 1)]


def test_a_batch_without_rows_for_a_table_commits_nothing_to_it(tmp_path: Path) -> None:
    tables = tables_at(tmp_path)
    commit = tables.commit("alerts", SCHEMA.empty_table(), "query-1", 0)
    assert (commit.rows, commit.written) == (0, False)
    assert DeltaTable(str(tmp_path / "alerts")).version() == 0  # the CREATE only


def test_tables_keep_a_protocol_both_writers_read_and_deletion_vectors_off(tmp_path) -> None:
    tables_at(tmp_path).commit("status", rows("A"), "query-1", 0)
    table = DeltaTable(str(tmp_path / "status"))
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert (protocol.reader_features, protocol.writer_features) == (None, None)
    config = table.metadata().configuration
    assert config["delta.enableDeletionVectors"] == "false"
    assert config["delta.logRetentionDuration"] == "interval 10080 minutes"
    assert table.metadata().partition_columns == ["date"]
    assert table.to_pandas()["date"].tolist() == [DAY]
    assert tables_at(tmp_path).commit("status", rows("B"), "query-1", 1).written  # reopened


def test_spark_arrow_meets_the_tables_looser_types(tmp_path: Path) -> None:
    # Spark's Arrow marks fields that are never null as non-nullable, and the poll log's
    # `listed` as a list of non-null strings: the table's nullable types take them
    strict = pa.schema(
        [
            pa.field("listed", pa.list_(pa.field("element", pa.string(), nullable=False))),
            pa.field("n", pa.int64(), nullable=False),
            pa.field("date", pa.date32()),
        ]
    )
    tables = DeltaTables(str(tmp_path), {"polls": strict}, retain_hours=1)
    tables.ensure()
    batch = pa.table({"listed": [["A", "B"]], "n": [2], "date": [DAY]}, schema=strict)
    assert tables.commit("polls", batch, "query-1", 0).written
    read = DeltaTable(str(tmp_path / "polls")).to_pyarrow_table()
    assert read["listed"].to_pylist() == [["A", "B"]]
    assert all(f.nullable for f in loose(strict))


def test_files_written_into_a_table_are_committed_by_their_add_actions(tmp_path: Path) -> None:
    # what Spark's tasks write for a large batch: Parquet files in a folder of the table's
    tables = tables_at(tmp_path)
    day = tmp_path / "status" / "batch-0-a" / f"date={DAY}"
    day.mkdir(parents=True)
    pq.write_table(rows("A", "B").drop(["date"]), day / "part-0.parquet")
    written = list_files(str(tmp_path / "status"), "batch-0-a")

    first = tables.commit("status", written, "query-1", 0)
    again = tables_at(tmp_path).commit("status", written, "query-1", 0)  # the replay

    assert (first.rows, first.written, again.written) == (2, True, False)
    assert content(tmp_path, "status") == [("A", 1), ("B", 1)]
    assert DeltaTable(str(tmp_path / "status")).to_pandas()["date"].tolist() == [DAY, DAY]
    assert batches_written(tmp_path / "status") == [0]
