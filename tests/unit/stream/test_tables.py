"""stream.tables: the exactly-once table store: its state, and its files read for status lines."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import types as T

from pipeline.stream.tables import BatchStore, progress

# --- a live run's progress, from the checkpoint folder ---------------------------------------


def test_no_commit_yet_means_no_batch(tmp_path: Path) -> None:
    assert progress(tmp_path / "_checkpoints") == {"spark_batch": None}


def test_last_commit_is_the_highest_number_not_the_last_name(tmp_path: Path) -> None:
    commits = tmp_path / "stream" / "commits"
    commits.mkdir(parents=True)
    for n in (2, 9, 10):  # "9" sorts after "10" as text
        (commits / str(n)).write_text("v1", encoding="utf-8")
    (commits / ".10.crc").write_text("", encoding="utf-8")
    (commits / "11").mkdir()  # not a file: not a commit
    old = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    os.utime(commits / "10", (old, old))
    facts = progress(tmp_path)
    assert facts["spark_batch"] == 10
    assert facts["spark_batch_age_s"] >= datetime.now(UTC).timestamp() - old - 5
    assert facts["complete_until"] is None


def test_complete_until_comes_from_the_newest_state(tmp_path: Path) -> None:
    (tmp_path / "stream" / "commits").mkdir(parents=True)
    (tmp_path / "stream" / "commits" / "0").write_text("v1", encoding="utf-8")
    for name, when in (("a", datetime(2025, 10, 18, 9, 0, tzinfo=UTC)),
                       ("b", datetime(2025, 10, 18, 9, 15, 30, tzinfo=UTC))):  # fmt: skip
        folder = tmp_path / "state" / name
        folder.mkdir(parents=True)
        meta = {"complete_until_us": int(when.timestamp() * 1_000_000)}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert progress(tmp_path)["complete_until"] == "2025-10-18T09:15Z"


# --- the state: named frames and a JSON meta, versioned by batch -----------------------------


@pytest.mark.spark
def test_state_is_named_frames_and_meta_read_back_by_the_next_batch(spark, tmp_path: Path) -> None:
    store = BatchStore(spark, str(tmp_path / "out"), str(tmp_path / "cp"))
    schemas = {
        "records": T.StructType([T.StructField("code", T.StringType())]),
        "seen": T.StructType([T.StructField("n", T.LongType())]),
    }
    first, meta = store.load_state(0, schemas)
    assert meta == {} and {n: f.count() for n, f in first.items()} == {"records": 0, "seen": 0}
    frames = {"records": spark.createDataFrame([("A",), ("B",)], schemas["records"])}
    store.save_state(0, frames, {"complete_until_us": 42})
    assert (tmp_path / "cp" / "state" / "0000000000" / "records").is_dir()
    again, meta = store.load_state(1, schemas)
    assert meta == {"complete_until_us": 42}
    assert sorted(r.code for r in again["records"].collect()) == ["A", "B"]
    assert again["seen"].count() == 0  # a frame that version did not keep: empty, same schema
    assert again["seen"].schema == schemas["seen"]
    replayed, meta = store.load_state(0, schemas)  # a replay of batch 0 starts afresh
    assert meta == {} and replayed["records"].count() == 0


# --- the exactly-once core: a batch replayed or interrupted leaves what one attempt leaves ----

ROWS = T.StructType([T.StructField("code", T.StringType()), T.StructField("date", T.StringType())])


def _rows(spark, root: Path, name: str = "status") -> list[tuple[str, str]]:  # noqa: ANN001
    table = spark.read.schema(ROWS).parquet(str(root / name))
    return sorted((r.code, r.date) for r in table.collect())


def _batch_files(root: Path, batch_id: int, name: str = "status") -> list[str]:
    return sorted(p.name for p in (root / name).glob(f"date=*/part-{batch_id:010d}-*.parquet"))


@pytest.mark.spark
def test_a_batch_written_again_replaces_its_first_attempt(spark, tmp_path: Path) -> None:
    out = tmp_path / "out"
    store = BatchStore(spark, str(out), str(tmp_path / "cp"))
    store.ensure_tables({"status": ROWS})
    day = [("A", "2022-05-12"), ("B", "2022-05-12"), ("C", "2022-05-13")]
    store.write("status", spark.createDataFrame(day[:1], ROWS), 0)
    store.write("status", spark.createDataFrame(day[1:], ROWS), 1)
    files = _batch_files(out, 1)
    store.write("status", spark.createDataFrame(day[1:], ROWS), 1)  # the replay after a restart
    assert _rows(spark, out) == sorted(day)  # no row twice, batch 0 untouched
    assert _batch_files(out, 1) == files  # the same file names as the first attempt
    assert not (tmp_path / "cp" / "_staging" / "status" / "1").exists()


@pytest.mark.spark
def test_a_crash_between_staging_and_rename_is_repaired_by_the_next_attempt(
    spark, tmp_path: Path
) -> None:
    out, cp = tmp_path / "out", tmp_path / "cp"
    store = BatchStore(spark, str(out), str(cp))
    store.ensure_tables({"status": ROWS})
    # the dead attempt: staged, and one of its files already renamed into the table
    stale = spark.createDataFrame([("OLD", "2022-05-12"), ("OLD", "2022-05-13")], ROWS)
    staging = cp / "_staging" / "status" / "2"
    stale.write.mode("overwrite").partitionBy("date").parquet(str(staging))
    moved = sorted(staging.glob("date=2022-05-12/*.parquet"))[0]
    (out / "status" / "date=2022-05-12").mkdir(parents=True)
    moved.rename(out / "status" / "date=2022-05-12" / "part-0000000002-00000.parquet")
    # the next attempt of batch 2, with what the batch really holds
    store.write("status", spark.createDataFrame([("A", "2022-05-12")], ROWS), 2)
    assert _rows(spark, out) == [("A", "2022-05-12")]
    assert not staging.exists()


@pytest.mark.spark
def test_the_state_for_batch_n_is_the_newest_committed_before_n(spark, tmp_path: Path) -> None:
    store = BatchStore(spark, str(tmp_path / "out"), str(tmp_path / "cp"))
    schemas = {"records": T.StructType([T.StructField("code", T.StringType())])}
    for n in (0, 1, 2):
        frame = spark.createDataFrame([(f"after-{n}",)], schemas["records"])
        store.save_state(n, {"records": frame}, {"batch": n})
    # batch 2 committed its own state: its replay still starts from batch 1's
    frames, meta = store.load_state(2, schemas)
    assert meta == {"batch": 1} and [r.code for r in frames["records"].collect()] == ["after-1"]
    assert store.load_state(3, schemas)[1] == {"batch": 2}
    # a state written without its meta.json (killed mid-commit) is not a commit
    (tmp_path / "cp" / "state" / "0000000002" / "meta.json").unlink()
    assert store.load_state(3, schemas)[1] == {"batch": 1}
    assert not (tmp_path / "cp" / "state" / "0000000000").exists()  # older states dropped
