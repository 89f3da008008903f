"""research.tables on the stream's own Delta tables (a live folder, ``velib stream --out``).

The same real records as Parquet and as a Delta table (written by deltalake, as
a stream would over two batches, with a killed write's file lying beside them):
the readers hand back the same frames, and a Delta table's earlier version.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

from pipeline.research import tables
from pipeline.sources.recorded import read_recorded

HISTORY = Path(__file__).resolve().parents[3] / "data" / "raw" / "opendata-history"
FILES = ("velib-opendata-2022-05-12T174444Z.csv.gz", "velib-opendata-2022-05-14T084205Z.csv.gz")


def status_of(name: str):
    return tables.status_frame(list(read_recorded(HISTORY / name))[0].records)


def as_delta(frame, folder: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_deltalake(folder, table, mode="append", partition_by=["date"])


def test_a_delta_root_reads_as_its_parquet_export_does(tmp_path: Path) -> None:
    first, second = status_of(FILES[0]), status_of(FILES[1])
    as_delta(first, tmp_path / "live" / "status")  # version 0
    as_delta(second, tmp_path / "live" / "status")  # version 1
    day = next((tmp_path / "live" / "status").glob("date=*"))
    pq.write_table(pa.table({"station_code": ["KILLED"]}), day / f"part-{uuid.uuid4()}.parquet")
    both = tables.read_status(tmp_path / "live")
    tables.write_status_parquet(both, tmp_path / "export")

    assert tables.is_processed(tmp_path / "live") and tables.is_processed(
        tmp_path / "live" / "status"
    )
    assert len(both) == len(first) + len(second)
    assert both.equals(tables.read_status(tmp_path / "export"))
    columns = ["station_code", "observed_at", "date"]
    delta = tables.read_table(tmp_path / "live", "status", columns)
    assert delta.equals(tables.read_table(tmp_path / "export", "status", columns))
    assert str(delta["observed_at"].dt.tz) == "UTC"


def test_a_delta_root_reads_at_an_earlier_version(tmp_path: Path) -> None:
    first = status_of(FILES[0])
    as_delta(first, tmp_path / "status")
    as_delta(status_of(FILES[1]), tmp_path / "status")
    then = tables.read_status(tmp_path / "status", as_of=0)
    assert len(then) == len(first) and sorted(then["date"].unique()) == ["2022-05-12"]
    assert len(tables.read_status(tmp_path / "status")) > len(first)  # the newest by default
