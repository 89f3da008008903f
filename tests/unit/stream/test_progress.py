"""stream.progress: a live run's newest committed batch, read from the state without Spark."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from pipeline.stream.progress import progress


def meta_rows(batches: dict[int, dict]) -> pa.Table:
    """A state table's rows: per batch, its meta row and a frame's row (no meta)."""
    ids = [b for b in batches for _ in range(2)]
    return pa.table(
        {
            "batch_id": pa.array(ids, pa.int64()),
            "meta": [text for m in batches.values() for text in (json.dumps(m), None)],
            "seen": pa.array([None if i % 2 == 0 else {"n": 1} for i in range(len(ids))]),
        }
    )


def test_no_state_yet_means_no_batch(tmp_path: Path) -> None:
    assert progress(tmp_path / "_checkpoints") == {"spark_batch": None}


def test_the_newest_batch_is_the_highest_number_with_its_completeness(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    us = int(datetime(2025, 10, 18, 9, 15, 30, tzinfo=UTC).timestamp() * 1_000_000)
    # batch 10 after batch 9 (numbers, not names: "9" sorts after "10" as text)
    write_deltalake(folder, meta_rows({9: {"complete_until_us": 1}, 10: {"complete_until_us": us}}))
    facts = progress(tmp_path)
    assert facts["spark_batch"] == 10
    assert facts["complete_until"] == "2025-10-18T09:15Z"
    assert 0 <= facts["spark_batch_age_s"] < 600


def test_a_batch_before_any_complete_window_says_so(tmp_path: Path) -> None:
    write_deltalake(tmp_path / "state", meta_rows({0: {"complete_until_us": None}}))
    assert progress(tmp_path)["complete_until"] is None
    assert progress(tmp_path)["spark_batch"] == 0


def test_consumed_is_the_end_offsets_of_the_newest_committed_batch(tmp_path: Path) -> None:
    from pipeline.stream.progress import consumed

    stream = tmp_path / "stream"
    assert consumed(tmp_path) == {}
    (stream / "offsets").mkdir(parents=True)
    (stream / "commits").mkdir()
    for batch, ends in enumerate(({"t": {"0": 5, "1": 7}}, {"t": {"0": 9, "1": 7}, "p": {"0": 2}})):
        meta = '{"batchWatermarkMs":0,"batchTimestampMs":1}'
        (stream / "offsets" / str(batch)).write_text(f"v1\n{meta}\n{json.dumps(ends)}\n")
    (stream / "commits" / "0").write_text("v1\n{}\n")
    assert consumed(tmp_path) == {"t": {0: 5, 1: 7}}  # batch 1 planned, not committed yet
    (stream / "commits" / "1").write_text("v1\n{}\n")
    assert consumed(tmp_path) == {"t": {0: 9, 1: 7}, "p": {0: 2}}
