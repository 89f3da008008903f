"""stream.tables: the exactly-once table store, read from its files (status lines)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pipeline.stream.tables import progress

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
