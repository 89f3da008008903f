"""delta.history and ``velib history``: versions with the batch that wrote them, no JVM.

The stream's commits carry a note (Delta's userMetadata); here deltalake writes
it the same way, so the listing is tested on real Delta logs.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pipeline import cli
from pipeline.delta.history import run, versions
from pipeline.delta.read import commit_note
from pipeline.settings import project
from pipeline.settings.tables import HistorySettings


def batch(folder: Path, batch_id: int, n: int, partition: str = "date") -> None:
    table = pa.table({"code": [f"S{i}" for i in range(n)], partition: ["2022-05-12"] * n})
    note = CommitProperties(custom_metadata={"userMetadata": commit_note("q-1", batch_id)})
    write_deltalake(folder, table, mode="append", partition_by=[partition], commit_properties=note)


def test_each_version_says_what_wrote_it(tmp_path: Path) -> None:
    for batch_id, n in ((0, 3), (1, 2)):
        batch(tmp_path / "status", batch_id, n)
    DeltaTable(tmp_path / "status").optimize.compact()
    found = versions(tmp_path / "status")
    assert [(v.version, v.operation, v.batch_id, v.rows) for v in found] == [
        (2, "OPTIMIZE", None, None),
        (1, "WRITE", 1, 2),
        (0, "WRITE", 0, 3),
    ]
    assert (found[0].files_removed, found[0].files_added) == (2, 1)
    assert found[0].at >= found[1].at >= found[2].at and found[0].at.tzinfo is not None
    assert "batch 1" in found[1].line() and "+2 rows" in found[1].line()
    assert found[1].line().split()[1].endswith("Z")  # pastes into --a-as-of as it is
    assert [v.version for v in versions(tmp_path / "status", last=1)] == [2]


def test_the_listing_covers_every_table_and_the_state_on_request(tmp_path: Path) -> None:
    batch(tmp_path / "status", 0, 1)
    batch(tmp_path / "alerts", 0, 1)
    batch(tmp_path / "_checkpoints" / "state", 0, 1, partition="batch_id")
    shown = run(HistorySettings.build({"root": tmp_path}))
    assert list(shown.tables) == ["alerts", "status"]
    with_state = run(HistorySettings.build({"root": tmp_path, "state": True}))
    assert "_checkpoints/state" in with_state.tables


def test_velib_history_prints_a_heading_and_a_line_per_version(tmp_path, capsys) -> None:
    for batch_id in range(3):
        batch(tmp_path / "status", batch_id, 1)
    assert cli.main(["history", str(tmp_path), "--last", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "status: version 2, 2 newest shown"
    assert [line.split()[0] for line in lines[1:]] == ["v2", "v1"]


def test_velib_history_of_a_folder_without_tables_is_one_line(tmp_path, capsys) -> None:
    assert cli.main(["history", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"velib history: no Delta table in {tmp_path}"]


def test_without_a_root_it_lists_the_project_tables(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(project, "ROOT", tmp_path)  # the defaults' places are under the root
    batch(tmp_path / "data" / "run" / "stream" / "status", 0, 2)
    batch(tmp_path / "data" / "live" / "processed" / "alerts", 0, 1)
    batch(tmp_path / "data" / "processed" / "2022-05" / "status", 0, 1)  # one per recording
    batch(tmp_path / "data" / "run" / "stream" / "_checkpoints" / "state", 0, 1, "batch_id")
    assert cli.main(["history"]) == 0
    headings = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert [h for h in headings if not h.startswith(" ")] == [
        "data/live/processed/alerts",
        "data/run/stream/status",
        "data/processed/2022-05/status",
    ]


def test_without_a_root_or_tables_it_says_where_it_looked(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(project, "ROOT", tmp_path)
    (tmp_path / "data" / "run").mkdir(parents=True)  # there, but holding no table
    assert cli.main(["history"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "velib history: no Delta table in data/live/processed, data/run, data/processed: "
        "pass a table or a folder of them (velib history PATH); velib run and velib run "
        "--live write them there"
    ]


def test_the_places_are_where_velib_run_writes(tmp_path) -> None:
    from pipeline.settings.run import RunSettings

    # a run of each recording writes under its name (data/run/NAME, data/processed/NAME):
    # history looks under the folders that hold them
    run_settings = RunSettings.build({"raw": [tmp_path]})
    places = HistorySettings.build().places
    assert places == (
        run_settings.live_dir / "processed",
        run_settings.work_dir.parent,
        run_settings.out.parent,
    )
