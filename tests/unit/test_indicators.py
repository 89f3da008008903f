"""The stream stage's pure transforms on small batch DataFrames of real records.

ROWS are four real stations from the first eight Paris open-data snapshots of
2022-05-12 (../shared/data/opendata-history, 10:22 to 13:07 UTC), as parsed by
pipeline.sources: a Paris station that runs empty (15020, arrondissement 15),
an Ivry station that fills up and reports out of order (42004), a station
that is installed but neither rents nor returns (14032), and a capacity-0
station with 0 bikes and 0 docks and no known commune (id:907081682).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from pipeline import alerts, indicators, record

# code, capacity, bikes, mechanical, ebike, docks, installed|renting|returning,
# last_reported, observed_at (2022-05-12, UTC)
ROWS = [
    ("42004", 25, 42, 34, 8, 1, 111, "09:19:02", "10:22:18"),
    ("15020", 32, 8, 8, 0, 24, 111, "09:19:00", "10:22:18"),
    ("14032", 32, 0, 0, 0, 32, 100, "09:18:11", "10:22:18"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "09:13:06", "10:22:18"),
    ("42004", 25, 43, 34, 9, 0, 111, "10:19:25", "10:27:20"),
    ("15020", 32, 6, 6, 0, 26, 111, "10:18:34", "10:27:20"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "10:15:02", "10:27:20"),
    ("14032", 32, 0, 0, 0, 32, 100, "10:10:15", "10:27:20"),
    ("42004", 25, 44, 34, 10, 0, 111, "10:19:08", "10:56:12"),
    ("15020", 32, 4, 4, 0, 28, 111, "10:18:34", "10:56:12"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "10:15:02", "10:56:12"),
    ("14032", 32, 0, 0, 0, 32, 100, "10:10:15", "10:56:12"),
    ("42004", 25, 42, 34, 8, 1, 111, "10:19:25", "11:13:44"),
    ("15020", 32, 4, 4, 0, 28, 111, "10:18:34", "11:13:44"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "10:15:02", "11:13:44"),
    ("14032", 32, 0, 0, 0, 32, 100, "10:10:15", "11:13:44"),
    ("42004", 25, 39, 35, 4, 2, 111, "11:19:11", "11:34:57"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "11:17:00", "11:34:57"),
    ("15020", 32, 0, 0, 0, 32, 111, "11:15:59", "11:34:57"),
    ("14032", 32, 0, 0, 0, 32, 100, "11:12:22", "11:34:57"),
    ("42004", 25, 35, 31, 4, 6, 111, "11:19:22", "11:47:44"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "11:17:00", "11:47:44"),
    ("15020", 32, 4, 2, 2, 28, 111, "11:15:59", "11:47:44"),
    ("14032", 32, 0, 0, 0, 32, 100, "11:12:22", "11:47:44"),
    ("42004", 25, 38, 33, 5, 3, 111, "12:19:29", "12:23:02"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "12:18:58", "12:23:02"),
    ("14032", 32, 0, 0, 0, 32, 100, "12:14:25", "12:23:02"),
    ("15020", 32, 3, 1, 2, 29, 111, "12:13:05", "12:23:02"),
    ("42004", 25, 37, 31, 6, 4, 111, "12:19:29", "13:07:21"),
    ("id:907081682", 0, 0, 0, 0, 0, 111, "12:18:58", "13:07:21"),
    ("14032", 32, 0, 0, 0, 32, 100, "12:14:25", "13:07:21"),
    ("15020", 32, 4, 1, 3, 28, 111, "12:13:05", "13:07:21"),
]
STATIONS = {
    "15020": (41523981, "Mairie du 15ème", 48.8417762, 2.2986539, "Paris", 15),
    "42004": (
        368766689,
        "Westermeyer - Paul Vaillant-Couturier",
        48.819116181578764,
        2.3966637253761296,
        "Ivry-sur-Seine",
        None,
    ),
    "14032": (54000587, "Mairie du 14ème", 48.83254578123, 2.3254923149943, "Paris", 14),
    "id:907081682": (
        907081682,
        "Romainville - Vaillant-couturier",
        48.868054,
        2.4470495,
        None,
        None,
    ),
}


def ts(hms: str, day: str = "2022-05-12") -> datetime:
    return datetime.fromisoformat(f"{day}T{hms}+00:00").astimezone(UTC)


def real_records() -> list[record.StationRecord]:
    out = []
    for code, cap, bikes, mech, ebike, docks, flags, reported, observed in ROWS:
        sid, name, lat, lon, commune, arr = STATIONS[code]
        inst, rent, ret = (c == "1" for c in str(flags))
        out.append(
            record.StationRecord(
                station_code=code,
                station_id=sid,
                name=name,
                lat=lat,
                lon=lon,
                capacity=cap,
                commune=commune,
                arrondissement=arr,
                bikes_available=bikes,
                mechanical_available=mech,
                ebike_available=ebike,
                docks_available=docks,
                is_installed=inst,
                is_renting=rent,
                is_returning=ret,
                last_reported=ts(reported),
                observed_at=ts(observed),
                source="replay:opendata-csv",
            )
        )
    return out


@pytest.fixture(scope="module")
def records(spark):
    return spark.createDataFrame([r.to_dict() for r in real_records()], record.spark_schema())


def kafka_rows(spark, values: list[bytes | None]):
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return spark.createDataFrame(
        [(b"k", v, "velib.station_status", 0, i, at) for i, v in enumerate(values)],
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp",
    )


# --- parsing ---------------------------------------------------------------


def test_valid_values_parse_back_to_the_produced_records(spark, records):
    values = [record.to_json(r) for r in real_records()]
    parsed = indicators.parse_values(kafka_rows(spark, values))
    assertDataFrameEqual(indicators.valid_records(parsed), records, checkRowOrder=False)
    assert indicators.rejected_rows(parsed).count() == 0


def test_bad_values_are_rejected_with_a_reason(spark):
    good = record.to_json_dict(real_records()[0])
    missing = {k: v for k, v in good.items() if k not in ("docks_available", "last_reported")}
    import json

    values = [
        b"{not json",
        json.dumps({**good, "bikes_available": "many"}).encode(),
        json.dumps(missing).encode(),
        json.dumps({**good, "schema_version": 2}).encode(),
        None,
        record.to_json(real_records()[1]),
    ]
    parsed = indicators.parse_values(kafka_rows(spark, values))
    got = indicators.rejected_rows(parsed).select("offset", "reason", "date")
    wrong = "malformed JSON or a field of the wrong type"
    expected = [
        Row(offset=0, reason=wrong, date=date(2026, 1, 1)),
        Row(offset=1, reason=wrong, date=date(2026, 1, 1)),
        Row(
            offset=2,
            reason="missing required fields: docks_available,last_reported",
            date=date(2026, 1, 1),
        ),
        Row(offset=3, reason="unsupported schema_version 2", date=date(2026, 1, 1)),
        Row(offset=4, reason="null value", date=date(2026, 1, 1)),
    ]
    assertDataFrameEqual(got, expected, checkRowOrder=False)
    assert indicators.rejected_rows(parsed).columns == list(indicators.REJECTED_COLUMNS)
    assert indicators.valid_records(parsed).count() == 1


def test_status_rows_keep_every_field_and_a_utc_date(spark, records):
    spark.conf.set("spark.sql.session.timeZone", "Pacific/Kiritimati")  # UTC+14
    try:
        status = indicators.status_rows(records)
        assert status.columns == [*record.FIELD_NAMES, "date"]
        assert {r.date for r in status.select("date").collect()} == {date(2022, 5, 12)}
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


# --- station indicators ------------------------------------------------------


def pandas_station_indicators(recs: list[record.StationRecord], freq: str) -> list[dict]:
    """An independent computation of the documented definitions."""
    df = pd.DataFrame([r.to_dict() for r in recs])
    df["last_reported"] = pd.to_datetime(df["last_reported"], utc=True)
    df["window_start"] = df["last_reported"].dt.floor(freq)
    total = df["bikes_available"] + df["docks_available"]
    df["occ"] = (df["bikes_available"] / total).where(total > 0)
    df["empty"] = (df["bikes_available"] == 0).astype(float)
    df["full"] = (df["docks_available"] == 0).astype(float)
    oos = ~df["is_installed"] | (~df["is_renting"] & ~df["is_returning"])
    df["oos"] = oos.astype(float)
    rows = []
    for (start, code), g in df.groupby(["window_start", "station_code"]):
        last = g.sort_values("last_reported", kind="stable").iloc[-1]
        row = {
            "window_start": start.tz_convert(None).to_pydatetime(),  # Spark collects naive UTC
            "window_end": (start + pd.Timedelta(freq)).tz_convert(None).to_pydatetime(),
            "station_code": code,
            "name": last["name"],
            "commune": None if pd.isna(last["commune"]) else last["commune"],
            "arrondissement": None
            if pd.isna(last["arrondissement"])
            else int(last["arrondissement"]),
            "n_reports": len(g),
        }
        for short, col in indicators._METRICS.items():
            row[f"{short}_mean"] = float(g[col].mean())
            row[f"{short}_min"] = int(g[col].min())
            row[f"{short}_max"] = int(g[col].max())
        occ = g["occ"].dropna()
        row["occupancy_mean"] = float(occ.mean()) if len(occ) else None
        row["empty_share"] = float(g["empty"].mean())
        row["full_share"] = float(g["full"].mean())
        row["out_of_service_share"] = float(g["oos"].mean())
        row["date"] = start.date()
        rows.append(row)
    return rows


@pytest.mark.parametrize(("window", "freq"), [("15 minutes", "15min"), ("1 hour", "1h")])
def test_station_indicators_equal_an_independent_pandas_computation(spark, records, window, freq):
    got = indicators.station_indicators(records, window)
    assert got.columns == list(indicators.STATION_COLUMNS)
    expected = [Row(**r) for r in pandas_station_indicators(real_records(), freq)]
    assertDataFrameEqual(got, expected, checkRowOrder=False)


def test_station_window_values_by_hand(spark, records):
    got = indicators.station_indicators(records, "1 hour").where(
        "window_start = '2022-05-12 11:00:00'"
    )
    rows = {r.station_code: r for r in got.collect()}
    # 15020 reported twice at 11:15:59: 0 bikes / 32 docks, then 4 / 28
    s = rows["15020"]
    assert (s.n_reports, s.bikes_mean, s.bikes_min, s.bikes_max) == (2, 2.0, 0, 4)
    assert (s.empty_share, s.full_share, s.out_of_service_share) == (0.5, 0.0, 0.0)
    assert s.occupancy_mean == pytest.approx((0 / 32 + 4 / 32) / 2)
    # capacity 0, 0 bikes and 0 docks: occupancy undefined, both empty and full
    z = rows["id:907081682"]
    assert z.occupancy_mean is None
    assert (z.empty_share, z.full_share, z.out_of_service_share) == (1.0, 1.0, 0.0)
    # installed but neither renting nor returning: out of service the whole time
    assert rows["14032"].out_of_service_share == 1.0
    # a station with no report in a window has no row there (42004 has none 13:00-14:00)
    assert records.where("last_reported >= '2022-05-12 13:00:00'").count() == 0


# --- area indicators ---------------------------------------------------------


def test_area_rollup_of_one_window(spark, records):
    got = indicators.area_indicators(records, "1 hour").where(
        "window_start = '2022-05-12 11:00:00'"
    )
    assert got.columns == list(indicators.AREA_COLUMNS)
    start, end = ts("11:00:00").replace(tzinfo=None), ts("12:00:00").replace(tzinfo=None)
    # station values of that hour: 15020 (bikes 0,4 docks 32,28 mech 0,2 ebike 0,2),
    # 14032 (0 bikes, 32 docks, out of service), 42004 (39,35 / 2,6 / 35,31 / 4,4)
    occ_15020 = (0 / 32 + 4 / 32) / 2
    occ_42004 = (39 / 41 + 35 / 41) / 2
    expected = [
        Row(
            window_start=start,
            window_end=end,
            area_level="commune",
            area="Paris",
            n_stations=2,
            bikes_mean=1.0,
            mechanical_mean=0.5,
            ebike_mean=0.5,
            docks_mean=31.0,
            occupancy_mean=occ_15020 / 2,
            empty_share=0.75,
            full_share=0.0,
            out_of_service_share=0.5,
            stations_empty=2,
            stations_full=0,
            stations_out_of_service=1,
            date=date(2022, 5, 12),
        ),
        Row(
            window_start=start,
            window_end=end,
            area_level="commune",
            area="Ivry-sur-Seine",
            n_stations=1,
            bikes_mean=37.0,
            mechanical_mean=33.0,
            ebike_mean=4.0,
            docks_mean=4.0,
            occupancy_mean=occ_42004,
            empty_share=0.0,
            full_share=0.0,
            out_of_service_share=0.0,
            stations_empty=0,
            stations_full=0,
            stations_out_of_service=0,
            date=date(2022, 5, 12),
        ),
        Row(
            window_start=start,
            window_end=end,
            area_level="arrondissement",
            area="14",
            n_stations=1,
            bikes_mean=0.0,
            mechanical_mean=0.0,
            ebike_mean=0.0,
            docks_mean=32.0,
            occupancy_mean=0.0,
            empty_share=1.0,
            full_share=0.0,
            out_of_service_share=1.0,
            stations_empty=1,
            stations_full=0,
            stations_out_of_service=1,
            date=date(2022, 5, 12),
        ),
        Row(
            window_start=start,
            window_end=end,
            area_level="arrondissement",
            area="15",
            n_stations=1,
            bikes_mean=2.0,
            mechanical_mean=1.0,
            ebike_mean=1.0,
            docks_mean=30.0,
            occupancy_mean=occ_15020,
            empty_share=0.5,
            full_share=0.0,
            out_of_service_share=0.0,
            stations_empty=1,
            stations_full=0,
            stations_out_of_service=0,
            date=date(2022, 5, 12),
        ),
    ]  # the capacity-0 station has no commune: it is in no area row
    assertDataFrameEqual(got, expected, checkRowOrder=False)


# --- alerts ------------------------------------------------------------------


def alert(code, kind, previous, at, bikes, docks, commune, arr):
    return Row(
        station_code=code,
        alert=kind,
        previous=previous,
        at=ts(at).replace(tzinfo=None),
        bikes_available=bikes,
        docks_available=docks,
        commune=commune,
        arrondissement=arr,
        date=date(2022, 5, 12),
    )


def test_alert_transitions_on_real_reports(spark, records):
    got = alerts.alerts_batch(records, "2 hours", now=datetime(2022, 5, 12, 16, tzinfo=UTC))
    expected = [
        alert("14032", "out_of_service", None, "09:18:11", 0, 32, "Paris", 14),
        alert("14032", "stale", "out_of_service", "14:14:25", 0, 32, "Paris", 14),
        # counts changed twice under one last_reported: empty, then back to normal
        alert("15020", "empty", "normal", "11:15:59", 0, 32, "Paris", 15),
        alert("15020", "normal", "empty", "11:15:59", 4, 28, "Paris", 15),
        alert("15020", "stale", "normal", "14:13:05", 4, 28, "Paris", 15),
        # out-of-order reports are taken in last_reported order
        alert("42004", "full", "normal", "10:19:08", 44, 0, "Ivry-sur-Seine", None),
        alert("42004", "normal", "full", "10:19:25", 42, 1, "Ivry-sur-Seine", None),
        alert("42004", "stale", "normal", "14:19:29", 37, 4, "Ivry-sur-Seine", None),
        # 0 bikes and 0 docks (capacity 0) classifies as empty
        alert("id:907081682", "empty", None, "09:13:06", 0, 0, None, None),
        alert("id:907081682", "stale", "empty", "14:18:58", 0, 0, None, None),
    ]
    assertDataFrameEqual(got, expected, checkRowOrder=False)
    assert got.columns == [*alerts.COLUMNS, "date"]


def test_gaps_longer_than_the_threshold_make_a_station_stale_between_reports(spark, records):
    got = alerts.alerts_batch(records.where("station_code = '14032'"), "45 minutes")
    expected = [
        alert("14032", "out_of_service", None, "09:18:11", 0, 32, "Paris", 14),
        alert("14032", "stale", "out_of_service", "10:03:11", 0, 32, "Paris", 14),
        alert("14032", "out_of_service", "stale", "10:10:15", 0, 32, "Paris", 14),
        alert("14032", "stale", "out_of_service", "10:55:15", 0, 32, "Paris", 14),
        alert("14032", "out_of_service", "stale", "11:12:22", 0, 32, "Paris", 14),
        alert("14032", "stale", "out_of_service", "11:57:22", 0, 32, "Paris", 14),
        alert("14032", "out_of_service", "stale", "12:14:25", 0, 32, "Paris", 14),
    ]
    assertDataFrameEqual(got, expected, checkRowOrder=False)


def test_advance_ignores_reports_older_than_the_known_state():
    report = alerts.Report("normal", 2_000, 5, 5, "Paris", 1)
    old_empty = alerts.Report("empty", 1_000, 0, 10, "Paris", 1)
    out, state = alerts.advance("1001", None, [report], stale_after_us=10_000)
    assert out == [] and state is not None and state.alert == "normal"
    out, state2 = alerts.advance("1001", state, [old_empty], stale_after_us=10_000)
    assert out == [] and state2 == state
    assert alerts.expire("1001", state, 10_000)[0]["at_us"] == 12_000
    assert alerts.expire("1001", alerts.StationState("stale", 0, 0, 0, None, None), 1) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2 hours", 7200), ("15 minutes", 900), ("30s", 30), ("30 seconds", 30), ("1 day", 86400)],
)
def test_parse_duration(text, seconds):
    assert alerts.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "0 minutes", "5 fortnights"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError):
        alerts.parse_duration(text)
