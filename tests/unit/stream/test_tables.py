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
