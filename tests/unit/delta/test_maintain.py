"""delta.maintain and ``velib compact``: old partitions compacted, removed files vacuumed.

A table filled the way a live stream fills it (one small append per batch, over
three days), compacted with deltalake: rows unchanged, one file per old day,
the newest day left alone, earlier versions still readable within the
retention, and only then removed.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from pipeline import cli
from pipeline.delta.maintain import partitions_to_compact, run, tidy
from pipeline.delta.read import read_arrow
from pipeline.settings.declare import SettingsError
from pipeline.settings.tables import CompactSettings

DAYS = ("2022-05-12", "2022-05-13", "2022-05-14")


def live_table(folder: Path, per_day: int = 4) -> int:
    """Appends of 5 rows, ``per_day`` on each day; returns the rows written."""
    n = 0
    for day in DAYS:
        for _ in range(per_day):
            rows = pa.table({"code": [f"S{n + i}" for i in range(5)], "date": [day] * 5})
            write_deltalake(folder, rows, mode="append", partition_by=["date"])
            n += 5
    return n


def files_per_day(folder: Path) -> dict[str, int]:
    adds = pa.table(DeltaTable(folder).get_add_actions(flatten=True))
    days = [str(d) for d in adds["partition.date"].to_pylist()]
    return {d: days.count(d) for d in sorted(set(days))}


def test_old_days_become_one_file_and_the_newest_is_left_alone(tmp_path: Path) -> None:
    written = live_table(tmp_path / "status")
    before = sorted(read_arrow(tmp_path / "status")["code"].to_pylist())
    version = DeltaTable(tmp_path / "status").version()

    done = tidy(tmp_path / "status", retain_hours=168)

    assert done.compacted == DAYS[:2] and (done.files_before, done.files_after) == (12, 6)
    assert files_per_day(tmp_path / "status") == {DAYS[0]: 1, DAYS[1]: 1, DAYS[2]: 4}
    assert sorted(read_arrow(tmp_path / "status")["code"].to_pylist()) == before
    assert len(before) == written
    assert done.removed == 0  # the files compacted away are younger than the retention
    assert read_arrow(tmp_path / "status", as_of=version).num_rows == written  # time travel
    again = tidy(tmp_path / "status", retain_hours=168)
    assert again.compacted == () and again.files_after == 6  # nothing left to do


def test_vacuum_removes_what_no_retained_version_needs(tmp_path: Path) -> None:
    live_table(tmp_path / "status")
    tidy(tmp_path / "status", retain_hours=168)
    folder = tmp_path / "status" / f"date={DAYS[0]}"
    stray = folder / f"part-{uuid.uuid4()}.parquet"  # a killed write's file, two days old
    pq.write_table(pa.table({"code": ["KILLED"]}), stray)
    os.utime(stray, (time.time() - 48 * 3600,) * 2)

    done = tidy(tmp_path / "status", retain_hours=0)  # the tests' shortcut; settings say >= 1

    assert not stray.exists() and done.removed == 8 + 1  # 2 days of 4 compacted, the stray
    assert sum(1 for _ in (tmp_path / "status").rglob("*.parquet")) == 6
    assert read_arrow(tmp_path / "status").num_rows == 60


def test_partitions_to_compact_skip_single_files_and_the_newest_day() -> None:
    adds = pa.table({"partition.date": pa.array([DAYS[0], DAYS[1], DAYS[1], DAYS[2], DAYS[2]])})
    assert partitions_to_compact(adds.cast(pa.schema([("partition.date", pa.string())]))) == [
        DAYS[1]
    ]
    assert partitions_to_compact(pa.table({"path": ["a"]})) == []  # not partitioned by date


def test_state_tables_are_vacuumed_only(tmp_path: Path) -> None:
    live_table(tmp_path / "processed" / "status")
    state = tmp_path / "processed" / "_checkpoints" / "state"
    for batch_id in range(3):
        rows = pa.table({"code": ["A"], "batch_id": pa.array([batch_id], pa.int64())})
        write_deltalake(state, rows, mode="append", partition_by=["batch_id"])
    summary = run(CompactSettings.build({"root": tmp_path / "processed"}))
    by_name = {t.table.name: t for t in summary.tables}
    assert by_name["state"].compacted == () and by_name["state"].files_after == 3
    assert by_name["status"].compacted == DAYS[:2]
    assert summary.line().startswith("tables=2 files=15->9 partitions_compacted=2 ")


def test_velib_compact_prints_one_line_and_refuses_a_retention_under_an_hour(
    tmp_path, capsys
) -> None:
    live_table(tmp_path / "status")
    assert cli.main(["compact", str(tmp_path), "--retain", "24"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("compact: tables=1 files=12->6 ")
    assert cli.main(["compact", str(tmp_path), "--retain", "0"]) == 2
    assert "--retain: must be at least 1 (hour), got 0" in capsys.readouterr().err
    with pytest.raises(SettingsError):
        CompactSettings.build({"root": tmp_path, "retain_hours": 0.5})
    assert cli.main(["compact", str(tmp_path / "missing")]) == 2
