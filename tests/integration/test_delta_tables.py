"""The stream's Delta tables as their readers see them: deltalake, history, time travel.

``stream_slice`` is one real ``velib run`` (broker, ingest, capture, Spark) on
eight recorded snapshots; its own Delta tables are in ``run/stream`` beside the
export. The compare test commits real recorded records to a table the way the
stream does (two micro-batches) and compares the status table's two versions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipeline import cli
from pipeline.compare import job as compare
from pipeline.delta.read import read_arrow, tables_under
from pipeline.research.tables import read_table
from pipeline.settings.compare import CompareSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream.arrow import arrow_schema
from pipeline.stream.microbatch import OUTPUTS
from pipeline.stream.tables import DeltaTables

pytestmark = [pytest.mark.integration, pytest.mark.spark]

HISTORY = Path(__file__).resolve().parents[2] / "data" / "raw" / "opendata-history"


def test_deltalake_reads_every_table_the_stream_writes(stream_slice: Path, spark) -> None:
    tables = stream_slice.parent / "run" / "stream"
    found = {p.relative_to(tables).as_posix() for p in tables_under(tables)}
    assert found == {*OUTPUTS, "_checkpoints/state"}
    for name in sorted(found):
        table = DeltaTable(str(tables / name))
        protocol = table.protocol()
        assert (protocol.min_reader_version, protocol.reader_features) == (1, None), name
        rows = read_arrow(tables / name)
        assert rows.num_rows == spark.read.format("delta").load(str(tables / name)).count(), name
        if name in OUTPUTS:  # what the research export holds, row for row
            assert rows.num_rows == len(read_table(stream_slice, name)), name
    assert read_arrow(tables / "indicators_station").num_rows > 0


def test_velib_history_lists_the_batches_of_a_real_run(stream_slice: Path, capsys) -> None:
    tables = stream_slice.parent / "run" / "stream"
    assert cli.main(["history", str(tables), "--last", "1000"]) == 0
    out = capsys.readouterr().out.splitlines()
    newest = DeltaTable(str(tables / "status")).version()
    heading = out.index(f"status: version {newest}, {newest + 1} newest shown")
    listed = [line.split() for line in out[heading + 1 : heading + 2 + newest]]
    assert [words[0] for words in listed] == [f"v{v}" for v in range(newest, -1, -1)]
    assert listed[-1][2:4] == ["CREATE", "TABLE"]  # then one WRITE per batch, newest first
    assert [words[2:5] for words in listed[:-1]] == [
        ["WRITE", "batch", str(b)] for b in range(newest - 1, -1, -1)
    ]


def records_of(name: str) -> list:
    return [r for snap in read_recorded(HISTORY / name) for r in snap.records]


def test_compare_reads_two_versions_of_a_real_table(spark, tmp_path: Path) -> None:
    first = records_of("velib-opendata-2022-05-12T174444Z.csv.gz")
    second = records_of("velib-opendata-2022-05-14T084205Z.csv.gz")
    schema = arrow_schema(OUTPUTS["status"])
    tables = DeltaTables(str(tmp_path / "live"), {"status": schema}, retain_hours=168)
    tables.ensure()
    for batch_id, records in enumerate((first, second)):  # versions 1 and 2
        rows = [{**r.to_dict(), "date": r.observed_at.astimezone(dt.UTC).date()} for r in records]
        tables.commit("status", pa.Table.from_pylist(rows, schema=schema), "query-1", batch_id)

    settings = CompareSettings.build(
        {
            "a": f"{tmp_path / 'live'}@1",
            "b": str(tmp_path / "live"),
            "b_as_of": "2",
            "out": tmp_path / "report",
        }  # fmt: skip
    )
    summary = compare.run(settings)

    assert (summary.a.records, summary.b.records) == (len(first), len(first) + len(second))
    # each side names what it asked for and the version it resolved to
    assert "live@1" in summary.a.label and summary.a.version == 1
    assert "live@2" in summary.b.label and summary.b.version == 2
    assert "live@1" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    now = compare.run(settings.replace(b_as_of=None))  # no version: the newest
    assert now.b.records == len(first) + len(second)
