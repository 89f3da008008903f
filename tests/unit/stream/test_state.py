"""stream.state: the state between micro-batches, one delta-rs commit a batch (no JVM).

Each test plays the steps the way ``foreachBatch`` does (load the state for
batch n, save the state after n) and cuts them where a ``kill -9`` would:
a replay, a crash before the state commit, a crash inside it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import types as T

from pipeline.stream.frontier import Frontier
from pipeline.stream.state import State, StateStore

FRAMES = {
    "records": T.StructType([T.StructField("code", T.StringType())]),
    "seen": T.StructType([T.StructField("n", T.LongType())]),
}


def store_at(root: Path, schemas=FRAMES) -> StateStore:
    """The store as a (re)started stream opens it: nothing in memory."""
    return StateStore(str(root / "state"), schemas, retain_hours=1)


def state(codes: list[str], n: int, until: int | None = None) -> State:
    return State(
        {
            "records": pa.table({"code": pa.array(codes, pa.string())}),
            "seen": pa.table({"n": pa.array([n], pa.int64())}),
        },
        Frontier(until, {0: n}, {}),
    )


def codes(loaded: State) -> list[str]:
    return sorted(loaded.frames["records"]["code"].to_pylist())


def run_batches(store: StateStore, batches: list[list[str]]) -> None:
    for batch_id, new in enumerate(batches):
        before = store.load(batch_id)
        store.save(batch_id, state(codes(before) + new, batch_id + 1, batch_id * 10), "q")


def test_the_first_batch_starts_empty(tmp_path: Path) -> None:
    first = store_at(tmp_path).load(0)
    assert {n: f.num_rows for n, f in first.frames.items()} == {"records": 0, "seen": 0}
    assert first.frontier == Frontier()


def test_the_state_for_batch_n_is_the_newest_before_n_even_after_n_saved_its_own(
    tmp_path: Path,
) -> None:
    run_batches(store_at(tmp_path), [["A"], ["B"], ["C"]])
    replay = store_at(tmp_path).load(2)  # 2 committed its own: a replay starts from 1's
    assert codes(replay) == ["A", "B"] and replay.frontier.complete_until_us == 10
    assert replay.frames["seen"]["n"].to_pylist() == [2]
    following = store_at(tmp_path).load(3)
    assert codes(following) == ["A", "B", "C"] and following.frontier.records_newest_us == {0: 3}
    # two batches' state at most: the one a replay needs and the newest
    kept = DeltaTable(str(tmp_path / "state")).to_pandas()
    assert sorted(set(kept["batch_id"])) == [1, 2]


def test_a_running_stream_reads_its_state_from_memory(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    run_batches(store, [["A"]])
    table = tmp_path / "state"
    moved = tmp_path / "elsewhere"
    table.rename(moved)  # batch 1 of the same process never reads the table
    assert codes(store.load(1)) == ["A"]
    moved.rename(table)


def test_a_replay_after_the_state_commit_saves_nothing_twice(tmp_path: Path) -> None:
    run_batches(store_at(tmp_path), [["A"], ["B"]])
    version = DeltaTable(str(tmp_path / "state")).version()
    restarted = store_at(tmp_path)  # killed after batch 1's state, before Spark's commit log
    assert codes(restarted.load(1)) == ["A"]
    restarted.save(1, state(["A", "B"], 2, 10), "q")
    assert DeltaTable(str(tmp_path / "state")).version() == version


def test_a_crash_inside_the_state_commit_leaves_none_of_it(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    run_batches(store, [["A"]])
    broken = State(
        {"records": pa.table({"code": ["A", "B"]}), "seen": pa.table({"n": ["not a number"]})},
        Frontier(10),
    )
    with pytest.raises(pa.ArrowInvalid):  # records fine, seen fails: nothing committed
        store.save(1, broken, "q")
    restarted = store_at(tmp_path)
    assert codes(restarted.load(1)) == ["A"]
    restarted.save(1, state(["A", "B"], 2, 10), "q")
    assert codes(store_at(tmp_path).load(2)) == ["A", "B"]


def test_a_frame_added_to_the_state_later_starts_empty_and_is_kept(tmp_path: Path) -> None:
    run_batches(store_at(tmp_path), [["A"]])
    grown = {**FRAMES, "extra": T.StructType([T.StructField("x", T.StringType())])}
    restarted = store_at(tmp_path, grown)
    loaded = restarted.load(1)
    assert loaded.frames["extra"].num_rows == 0 and codes(loaded) == ["A"]
    frames = {**loaded.frames, "extra": pa.table({"x": ["x1"]})}
    restarted.save(1, State(frames, loaded.frontier), "q")  # a new column of the table
    again = store_at(tmp_path, grown).load(2)
    assert again.frames["extra"]["x"].to_pylist() == ["x1"] and codes(again) == ["A"]


def test_the_state_table_is_readable_without_a_jvm(tmp_path: Path) -> None:
    run_batches(store_at(tmp_path), [["A"]])
    table = DeltaTable(str(tmp_path / "state"))
    assert table.protocol().min_reader_version == 1
    assert table.metadata().partition_columns == ["batch_id"]
    assert table.metadata().configuration["delta.enableDeletionVectors"] == "false"
