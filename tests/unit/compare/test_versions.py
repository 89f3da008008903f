"""velib compare on a Delta table's versions: which version each side read, and a paired B - A.

The status table is made as the stream makes it (v0 the empty CREATE TABLE, then
one write per batch), by deltalake from real recorded open-data snapshots: v1
holds two polls of Thu 12 May 2022, v2 adds two of Sat 14 May.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from pipeline import cli
from pipeline.compare.job import compare_areas
from pipeline.research import tables
from pipeline.sources.recorded import read_recorded

HISTORY = Path(__file__).resolve().parents[3] / "data" / "raw" / "opendata-history"
BATCHES = (
    ("velib-opendata-2022-05-12T174444Z.csv.gz", "velib-opendata-2022-05-12T184647Z.csv.gz"),
    ("velib-opendata-2022-05-14T074007Z.csv.gz", "velib-opendata-2022-05-14T084205Z.csv.gz"),
)


def _arrow(names: tuple[str, ...]) -> pa.Table:
    records = [r for name in names for s in read_recorded(HISTORY / name) for r in s.records]
    table = pa.Table.from_pandas(tables.status_frame(records), preserve_index=False)
    micros = [  # Spark's (and Delta's) timestamps are microseconds
        pa.field(f.name, pa.timestamp("us", "UTC")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(micros))


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A processed root whose status table has versions 0 (empty), 1 and 2."""
    root = tmp_path_factory.mktemp("stream")
    first, second = (_arrow(names) for names in BATCHES)
    DeltaTable.create(root / "status", first.schema, partition_by=["date"])
    write_deltalake(root / "status", first, mode="append")
    write_deltalake(root / "status", second, mode="append")
    return root


def _compare(tmp_path: Path, a: str, b: str) -> tuple[int, str, str]:
    out = tmp_path / "out"
    code = cli.main(["compare", a, b, "--out", str(out), "--metrics", str(tmp_path / "m.json")])
    return code, (out / "report.md").read_text() if code == 0 else "", str(out)


def test_a_table_compared_with_itself_differs_by_zero_with_zero_uncertainty(
    processed, tmp_path, capsys, caplog
):
    code, report, _ = _compare(tmp_path, str(processed), str(processed))
    assert code == 0
    line = capsys.readouterr().out
    assert line.count("network occupancy") == 1  # the summary once: on stdout, not logged too
    assert not [r for r in caplog.records if "network occupancy" in r.getMessage()]
    assert "+0.0 ± 0.0 pts; paired: the same 4 snapshots on both sides" in line
    assert " v2 " in line  # each side says which version it read
    areas = pd.read_csv(tmp_path / "out" / "areas.csv")
    assert (areas["occupancy_mean_delta"].fillna(0) == 0).all()
    assert (areas["occupancy_mean_delta_se"].dropna() == 0).all()
    assert areas["occupancy_mean_delta_se"].notna().sum() > 20  # network and arrondissements
    assert f"`{processed}, status table version 2 (its newest)`" in report
    assert "Paired: A and B hold the same snapshot times" in report


def test_each_side_names_the_version_it_resolved_to(processed, tmp_path, capsys):
    code, report, _ = _compare(tmp_path, f"{processed}@1", f"{processed}@2")
    assert code == 0
    assert f"`{processed}@1, status table version 1`" in report
    assert f"`{processed}@2, status table version 2`" in report
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert (metrics["a_version"], metrics["b_version"]) == (1, 2)
    assert (metrics["a_snapshots"], metrics["b_snapshots"]) == (2, 4)
    line = capsys.readouterr().out
    assert line.startswith("A v1 Thu 2022-05-12") and " vs B v2 Thu 2022-05-12" in line


@pytest.mark.parametrize("version", [0, 7])
def test_a_version_without_rows_is_one_line_naming_those_that_exist(
    processed, tmp_path, capsys, version
):
    code, _, _ = _compare(tmp_path, f"{processed}@{version}", str(processed))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"velib compare: {processed / 'status'}: no version {version} to read:")
    assert "versions 1 (2" in err and "Z) to 2 (" in err
    assert "v0 is the empty table its creation committed, before any write" in err
    assert "kernel" not in err.lower()


def _samples(values: dict[tuple[date, int], float]) -> pd.DataFrame:
    """One station per (day, snapshot) key with the given occupancy (network level only)."""
    rows = []
    for (day, minute), occ in values.items():
        rows.append(
            {
                "at": pd.Timestamp(day) + pd.Timedelta(minutes=minute),
                "station_code": "1",
                "weight": 1.0,
                "day": day,
                "commune": None,
                "arrondissement": None,
                "bikes_available": 10 * occ,
                "mechanical_available": 0,
                "ebike_available": 0,
                "docks_available": 10 * (1 - occ),
                "occupancy": occ,
                "out_of_service": 0.0,
                "empty": 0.0,
                "full": 0.0,
            }
        )
    return pd.DataFrame(rows)


def test_paired_sides_take_the_error_of_the_day_by_day_differences():
    days = [date(2022, 5, 12 + i) for i in range(3)]
    a = {(d, 0): occ for d, occ in zip(days, [0.30, 0.40, 0.35], strict=True)}
    b = {(d, 0): occ for d, occ in zip(days, [0.32, 0.43, 0.36], strict=True)}
    net = compare_areas(_samples(a), _samples(b), paired=True).iloc[0]
    diffs = pd.Series([0.02, 0.03, 0.01])
    assert net.occupancy_mean_delta == pytest.approx(diffs.mean())
    assert net.occupancy_mean_delta_se == pytest.approx(diffs.std() / 3**0.5)
    independent = compare_areas(_samples(a), _samples(b)).iloc[0]
    assert independent.occupancy_mean_delta_se > 3 * net.occupancy_mean_delta_se


def test_paired_sides_are_cut_to_the_snapshots_they_share_and_one_day_alike_is_certain():
    day = date(2022, 5, 12)
    a = {(day, 0): 0.30, (day, 60): 0.50}
    b = {(day, 0): 0.30, (day, 60): 0.50, (day, 120): 0.90}  # a snapshot A does not hold
    net = compare_areas(_samples(a), _samples(b), paired=True).iloc[0]
    assert (net.occupancy_mean_a, net.occupancy_mean_b) == (0.40, 0.40)
    assert (net.occupancy_mean_delta, net.occupancy_mean_delta_se) == (0.0, 0.0)
    other = compare_areas(_samples(a), _samples({(day, 0): 0.35, (day, 60): 0.50}), paired=True)
    assert pd.isna(other.iloc[0].occupancy_mean_delta_se)  # one day that differs: unknown
