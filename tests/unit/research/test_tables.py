"""Readers and period summaries of the research layer, on small hand-made tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import vocabulary
from pipeline.research import tables
from pipeline.sources.recorded import read_recorded

HISTORY = Path(__file__).resolve().parents[3] / "data" / "raw" / "opendata-history"
W0 = pd.Timestamp("2022-05-12T10:00:00")  # naive, as pyarrow reads Spark's INT96


def station_row(code: str, k: int, **values) -> dict:
    row = {c.name: None for c in vocabulary.STATION}
    row.update(
        window_start=W0 + pd.Timedelta(minutes=15 * k),
        window_end=W0 + pd.Timedelta(minutes=15 * (k + 1)),
        station_code=code,
        name=f"station {code}",
        commune="Paris",
        arrondissement=11,
        n_records=1,
        n_changes=0,
        date="2022-05-12",
    )
    row.update(values)
    return row


def write_table(processed: Path, name: str, rows: list[dict]) -> None:
    df = pd.DataFrame(rows)
    pq.write_to_dataset(
        pa.Table.from_pandas(df, preserve_index=False), processed / name, partition_cols=["date"]
    )


def test_read_table_gives_utc_typed_rows_in_a_stable_order(tmp_path):
    rows = [
        station_row("B", 1, seconds_known=900.0, empty_at_end=None),
        station_row("A", 1, seconds_known=900.0, empty_at_end=True),
        station_row("A", 0, seconds_known=300.0, empty_at_end=False),
    ]
    write_table(tmp_path, "indicators_station", rows)
    df = tables.read_table(tmp_path, "indicators_station")
    assert list(df.columns) == list(vocabulary.names(vocabulary.STATION))
    assert str(df["window_start"].dt.tz) == "UTC"
    assert df["window_start"].iloc[0] == pd.Timestamp("2022-05-12T10:00:00Z")
    assert list(zip(df["station_code"], df["window_start"].dt.minute, strict=True)) == [
        ("A", 0),
        ("A", 15),
        ("B", 15),
    ]
    assert str(df["arrondissement"].dtype) == "Int64"
    assert str(df["empty_at_end"].dtype) == "boolean" and df["empty_at_end"].isna().sum() == 1
    some = tables.read_table(tmp_path, "indicators_station", ["station_code", "window_end"])
    assert list(some.columns) == ["station_code", "window_end"]


def test_missing_tables_read_as_empty_frames_with_their_columns(tmp_path):
    alerts = tables.read_table(tmp_path, "alerts")
    assert alerts.empty and list(alerts.columns) == list(vocabulary.names(vocabulary.ALERT))
    rejected = tables.read_table(tmp_path, "_rejected")
    assert rejected.empty and "reason" in rejected


def test_rejected_columns_match_the_stream():
    from pipeline.stream.parse import REJECTED_COLUMNS

    assert tuple(tables.REJECTED) == REJECTED_COLUMNS


def test_station_summary_weighs_windows_by_known_time():
    rows = pd.DataFrame(
        [
            # 900 s known, empty all along; 300 s known, never empty.
            station_row(
                "A",
                0,
                seconds_known=900.0,
                empty_share=1.0,
                full_share=0.0,
                out_of_service_share=0.0,
                bikes_mean=0.0,
                occupancy_mean=0.0,
                occupancy_seconds=900.0,
                n_changes=1,
            ),
            station_row(
                "A",
                1,
                seconds_known=300.0,
                empty_share=0.0,
                full_share=0.0,
                out_of_service_share=0.0,
                bikes_mean=4.0,
                occupancy_mean=0.4,
                occupancy_seconds=300.0,
                n_changes=2,
            ),
            # occupancy undefined (bikes + docks = 0) in its only window
            station_row(
                "B",
                0,
                seconds_known=900.0,
                empty_share=1.0,
                full_share=1.0,
                out_of_service_share=0.0,
                bikes_mean=0.0,
                occupancy_mean=None,
                occupancy_seconds=0.0,
            ),
        ]
    )
    rows["window_start"] = tables.utc(rows["window_start"])
    out = tables.station_summary(rows)
    a = out.loc["A"]
    assert a["hours_known"] == pytest.approx(1200 / 3600)
    assert a["empty_share"] == pytest.approx(900 / 1200)  # not the row mean, 0.5
    assert a["bikes_mean"] == pytest.approx(4 * 300 / 1200)
    assert a["occupancy_mean"] == pytest.approx(0.4 * 300 / 1200)
    assert (a["n_changes"], a["windows"]) == (3, 2)
    assert np.isnan(out.loc["B", "occupancy_mean"]) and out.loc["B", "full_share"] == 1.0


def area_row(k: int, level: str, area: str, known: float, **values) -> dict:
    row = {c.name: None for c in vocabulary.AREA}
    row.update(
        window_start=pd.Timestamp("2022-05-12T10:00:00Z") + pd.Timedelta(minutes=15 * k),
        window_end=pd.Timestamp("2022-05-12T10:15:00Z") + pd.Timedelta(minutes=15 * k),
        area_level=level,
        area=area,
        stations_known_mean=known,
    )
    row.update(values)
    return row


def test_area_summary_weighs_windows_by_station_time():
    rows = pd.DataFrame(
        [
            area_row(
                0,
                "arrondissement",
                "11",
                10.0,
                empty_share=0.5,
                full_share=0.0,
                bikes_mean=3.0,
                occupancy_mean=0.2,
                occupancy_seconds=4500.0,  # half of the 10 stations' time had bikes + docks > 0
                out_of_service_share=0.0,
            ),
            area_row(
                1,
                "arrondissement",
                "11",
                30.0,
                empty_share=0.1,
                full_share=0.2,
                bikes_mean=5.0,
                occupancy_mean=0.4,
                occupancy_seconds=27000.0,
                out_of_service_share=0.0,
            ),
            area_row(
                0,
                "network",
                "all",
                40.0,
                empty_share=0.9,
                full_share=0.0,
                bikes_mean=1.0,
                occupancy_mean=0.1,
                occupancy_seconds=36000.0,
                out_of_service_share=0.0,
            ),
        ]
    )
    out = tables.area_summary(rows, "arrondissement")
    assert list(out.index) == ["11"]
    assert out.loc["11", "station_hours"] == pytest.approx(40 * 0.25)
    assert out.loc["11", "empty_share"] == pytest.approx((0.5 * 10 + 0.1 * 30) / 40)
    assert out.loc["11", "full_share"] == pytest.approx(0.2 * 30 / 40)
    # occupancy weighs its own station-time, not the known time
    assert out.loc["11", "occupancy_mean"] == pytest.approx((0.2 * 4500 + 0.4 * 27000) / 31500)


def test_stations_per_area_counts_each_station_once():
    rows = pd.DataFrame(
        [
            station_row("A", 0),
            station_row("A", 1),
            station_row("B", 0, commune="Montreuil", arrondissement=None),
        ]
    )
    counts = tables.stations_per_area(rows)
    assert counts[("network", "all")] == 2
    assert counts[("commune", "Paris")] == 1 and counts[("commune", "Montreuil")] == 1
    assert counts[("arrondissement", "11")] == 1


def test_metrics_text_prints_plain_numbers():
    text = tables.metrics_text({"b": np.float64(0.123456), "a": np.int64(3), "c": float("nan")})
    assert text == "a: 3\nb: 0.1235\nc: None"


def test_with_flags_follows_the_vocabulary():
    df = pd.DataFrame(
        {
            "bikes_available": [0, 3, 0],
            "docks_available": [5, 0, 0],
            "is_installed": [True, True, False],
            "is_renting": [True, True, True],
            "is_returning": [True, False, True],
        }
    )
    out = tables.with_flags(df)
    assert out["empty"].tolist() == [1.0, 0.0, 1.0]
    assert out["full"].tolist() == [0.0, 1.0, 1.0]
    assert out["out_of_service"].tolist() == [0.0, 0.0, 1.0]
    assert out["occupancy"].iloc[:2].tolist() == [0.0, 1.0] and np.isnan(out["occupancy"].iloc[2])


def test_status_parquet_round_trip(tmp_path):
    folder = tmp_path / "history"
    folder.mkdir()
    for name in (
        "velib-opendata-2022-05-12T174444Z.csv.gz",
        "velib-opendata-2022-05-14T084205Z.csv.gz",
    ):
        shutil.copy(HISTORY / name, folder / name)
    records = [r for s in read_recorded(folder) for r in s.records]
    tables.write_status_parquet(tables.status_frame(records), tmp_path / "p")
    back = tables.read_status(tmp_path / "p")
    assert list(back.columns) == list(tables.STATUS_COLUMNS)
    assert sorted(back["date"].unique()) == ["2022-05-12", "2022-05-14"]
    assert len(back) == len(records)
    assert str(back["observed_at"].dt.tz) == "UTC"
    status = tables.read_table(tmp_path / "p", "status", ["station_code", "observed_at"])
    assert len(status) == len(records) and str(status["observed_at"].dt.tz) == "UTC"
