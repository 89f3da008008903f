"""stream.tables: the exactly-once core on Delta, with a real local SparkSession.

Each test plays the store's steps the way ``foreachBatch`` does (load the state,
write the tables, save the state) on small frames, and cuts them where a
``kill -9`` would: replays, a crash between the table writes and the state
commit, a crash inside the state commit. The tables are then read with
``deltalake``, as every reader does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.delta.read import read_note
from pipeline.stream.tables import DeltaStore

pytestmark = pytest.mark.spark

ROWS = T.StructType(
    [
        T.StructField("code", T.StringType()),
        T.StructField("bikes", T.IntegerType()),
        T.StructField("date", T.DateType()),
    ]
)
STATE = {
    "records": T.StructType([T.StructField("code", T.StringType())]),
    "seen": T.StructType([T.StructField("n", T.LongType())]),
}
DAY = dt.date(2022, 5, 12)


def store_at(spark, root: Path, app_id: str = "query-1") -> DeltaStore:
    """A store as a (re)started stream builds it: same roots, same query id."""
    store = DeltaStore(spark, str(root / "out"), str(root / "cp"), app_id=app_id)
    store.ensure_tables({"status": ROWS, "alerts": ROWS})
    return store


def rows(spark, *codes: str, bikes: int = 1):
    return spark.createDataFrame([(c, bikes, DAY) for c in codes], ROWS)


def run_batch(spark, store: DeltaStore, batch_id: int, codes: list[str], bikes: int = 1) -> dict:
    """One whole batch: state in, both tables, state out (records grow by the batch's codes)."""
    state, meta = store.load_state(batch_id, STATE)
    known = sorted(r.code for r in state["records"].collect())
    frames = {
        "status": rows(spark, *codes, bikes=bikes),
        "alerts": rows(spark, *codes[:1], bikes=bikes),
    }
    counts = store.write_all(frames, batch_id)
    records = spark.createDataFrame([(c,) for c in sorted({*known, *codes})], STATE["records"])
    seen = spark.createDataFrame([(meta.get("batches", 0) + 1,)], STATE["seen"])
    store.save_state(batch_id, {"records": records, "seen": seen}, {"batches": batch_id + 1})
    return counts


def table(root: Path, name: str) -> list[tuple]:
    frame = DeltaTable(str(root / "out" / name)).to_pandas()
    return sorted(frame[["code", "bikes"]].itertuples(index=False, name=None))


def batches_written(path: Path) -> list[int]:
    """The batch of every stream commit of a table, oldest first."""
    notes = [read_note(c.get("userMetadata")) for c in DeltaTable(str(path)).history()]
    return sorted(n["batch_id"] for n in notes if "batch_id" in n)


def test_replaying_a_batch_changes_no_table_and_no_state(spark, tmp_path: Path) -> None:
    store = store_at(spark, tmp_path)
    assert run_batch(spark, store, 0, ["A", "B"]) == {"status": 2, "alerts": 1}
    assert run_batch(spark, store, 1, ["C"]) == {"status": 1, "alerts": 1}
    folders = [tmp_path / "out" / "status", tmp_path / "out" / "alerts", tmp_path / "cp" / "state"]
    versions = {p.name: DeltaTable(str(p)).version() for p in folders}

    # batch 1 again, as Spark replays it after a crash; even with other rows (a replay
    # computes the same ones; different rows show that nothing is written at all)
    again = run_batch(spark, store_at(spark, tmp_path), 1, ["C", "D"], bikes=9)

    assert again == {"status": 1, "alerts": 1}  # the rows batch 1 holds, not none
    assert {p.name: DeltaTable(str(p)).version() for p in folders} == versions
    assert table(tmp_path, "status") == [("A", 1), ("B", 1), ("C", 1)]
    for folder in folders:  # one commit per batch per table
        assert batches_written(folder) == [0, 1], folder.name
    state, meta = store.load_state(2, STATE)
    assert meta == {"batches": 2}
    assert sorted(r.code for r in state["records"].collect()) == ["A", "B", "C"]


def test_a_crash_before_the_state_commit_is_repaired_by_the_next_attempt(spark, tmp_path) -> None:
    store = store_at(spark, tmp_path)
    run_batch(spark, store, 0, ["A"])
    # batch 1, first attempt: status committed, then killed (no alerts, no state)
    store.load_state(1, STATE)
    store.write("status", rows(spark, "B"), 1)

    restarted = store_at(spark, tmp_path)
    state, meta = restarted.load_state(1, STATE)
    assert meta == {"batches": 1}  # the state batch 1 started from, as the first time
    assert [r.code for r in state["records"].collect()] == ["A"]
    run_batch(spark, restarted, 1, ["B"])

    assert table(tmp_path, "status") == [("A", 1), ("B", 1)]
    assert table(tmp_path, "alerts") == [("A", 1), ("B", 1)]
    assert batches_written(tmp_path / "out" / "status") == [0, 1]
    state, meta = restarted.load_state(2, STATE)
    assert meta == {"batches": 2} and state["seen"].collect()[0].n == 2


def test_a_crash_inside_the_state_commit_leaves_none_of_it(spark, tmp_path) -> None:
    store = store_at(spark, tmp_path)
    run_batch(spark, store, 0, ["A"])
    store.load_state(1, STATE)
    records = spark.createDataFrame([("A",), ("B",)], STATE["records"])
    broken = spark.range(1).select(F.raise_error(F.lit("killed")).cast("long").alias("n"))
    with pytest.raises(Exception, match="killed"):  # records fine, seen fails: one commit
        store.save_state(1, {"records": records, "seen": broken}, {"batches": 2})
    assert batches_written(tmp_path / "cp" / "state") == [0]

    restarted = store_at(spark, tmp_path)
    state, meta = restarted.load_state(1, STATE)
    assert meta == {"batches": 1} and [r.code for r in state["records"].collect()] == ["A"]
    run_batch(spark, restarted, 1, ["B"])

    state, meta = restarted.load_state(2, STATE)
    assert meta == {"batches": 2}
    assert sorted(r.code for r in state["records"].collect()) == ["A", "B"]
    assert state["seen"].collect()[0].n == 2


def test_a_frame_added_to_the_state_later_starts_empty_and_is_kept(spark, tmp_path) -> None:
    store = store_at(spark, tmp_path)
    run_batch(spark, store, 0, ["A"])
    grown = {**STATE, "extra": T.StructType([T.StructField("x", T.StringType())])}
    restarted = store_at(spark, tmp_path)
    state, meta = restarted.load_state(1, grown)
    assert meta == {"batches": 1} and state["extra"].count() == 0
    extra = spark.createDataFrame([("x1",)], grown["extra"])
    restarted.save_state(1, {**state, "extra": extra}, {"batches": 2})
    state, _ = store_at(spark, tmp_path).load_state(2, grown)
    assert [r.x for r in state["extra"].collect()] == ["x1"]
    assert [r.code for r in state["records"].collect()] == ["A"]


def test_the_state_for_batch_n_is_the_newest_before_n_even_after_n_saved_its_own(
    spark, tmp_path
) -> None:
    store = store_at(spark, tmp_path)
    first, meta = store.load_state(0, STATE)
    assert meta == {} and {n: f.count() for n, f in first.items()} == {"records": 0, "seen": 0}
    for batch_id, codes in enumerate((["A"], ["B"], ["C"])):
        run_batch(spark, store, batch_id, codes)

    replay, meta = store_at(spark, tmp_path).load_state(2, STATE)  # 2 committed its own
    assert meta == {"batches": 2}
    assert sorted(r.code for r in replay["records"].collect()) == ["A", "B"]
    nxt, meta = store.load_state(3, STATE)
    assert meta == {"batches": 3}
    assert sorted(r.code for r in nxt["records"].collect()) == ["A", "B", "C"]
    # two batches' state at most: the one a replay needs and the newest
    kept = DeltaTable(str(tmp_path / "cp" / "state")).to_pandas()
    assert sorted(set(kept["batch_id"])) == [1, 2]


def test_tables_are_readable_without_a_jvm_and_keep_deletion_vectors_off(spark, tmp_path) -> None:
    store = store_at(spark, tmp_path)
    run_batch(spark, store, 0, ["A"])
    for folder in [tmp_path / "out" / "status", tmp_path / "cp" / "state"]:
        table = DeltaTable(str(folder))
        protocol = table.protocol()
        assert (protocol.min_reader_version, protocol.reader_features) == (1, None)
        config = table.metadata().configuration
        assert config["delta.enableDeletionVectors"] == "false"
        assert config["delta.logRetentionDuration"].startswith("interval ")
    status = DeltaTable(str(tmp_path / "out" / "status"))
    assert status.metadata().partition_columns == ["date"]
    assert status.to_pandas()["date"].tolist() == [DAY]


def test_a_write_outside_a_streaming_query_needs_an_app_id(spark, tmp_path) -> None:
    store = DeltaStore(spark, str(tmp_path / "out"), str(tmp_path / "cp"))
    store.ensure_tables({"status": ROWS})
    with pytest.raises(RuntimeError, match="no streaming query id"):
        store.write("status", rows(spark, "A"), 0)


def test_a_list_column_declared_without_null_elements_takes_a_parsed_frame(spark, tmp_path) -> None:
    # the poll log's `listed` is declared array<string> without null elements; from_json
    # gives elements that may be null: the write must not fail on the cast
    strict = T.StructType(
        [
            T.StructField("listed", T.ArrayType(T.StringType(), containsNull=False)),
            T.StructField("date", T.DateType()),
        ]
    )
    store = DeltaStore(spark, str(tmp_path / "out"), str(tmp_path / "cp"), app_id="query-1")
    store.ensure_tables({"polls": strict})
    parsed = spark.createDataFrame(
        [(["A", "B"], DAY)], "listed array<string>, date date"
    )  # containsNull=true, as from_json has it
    assert store.write("polls", parsed, 0) == 1
    assert DeltaTable(str(tmp_path / "out" / "polls")).to_pyarrow_table()["listed"].to_pylist() == [
        ["A", "B"]
    ]
