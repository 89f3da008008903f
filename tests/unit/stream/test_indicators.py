"""The stream stage's pure transforms on small batch DataFrames of real records.

ROWS are four real stations from the first eight Paris open-data snapshots of
2022-05-12 (../shared/data/opendata-history, 10:22 to 13:07 UTC), as parsed by
pipeline.sources.recorded: a Paris station that runs empty (15020, arrondissement 15),
an Ivry station that fills up and reports out of order (42004), a station
that is installed but neither rents nor returns (14032), and a capacity-0
station with 0 bikes and 0 docks and no known commune (id:907081682).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from pipeline import record
from pipeline.poll import Poll
from pipeline.stream import indicators, observation, parse, timeline
from tests import oracle
from tests.unit.stream.test_timeline import frames_of

pytestmark = pytest.mark.spark

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
    parsed = parse.parse_values(kafka_rows(spark, values))
    assertDataFrameEqual(parse.valid_records(parsed), records, checkRowOrder=False)
    assert parse.rejected_rows(parsed).count() == 0


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
    parsed = parse.parse_values(kafka_rows(spark, values))
    got = parse.rejected_rows(parsed).select("offset", "reason", "date")
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
    assert parse.rejected_rows(parsed).columns == list(parse.REJECTED_COLUMNS)
    assert parse.valid_records(parsed).count() == 1


def test_status_rows_keep_every_field_and_a_utc_date(spark, records):
    spark.conf.set("spark.sql.session.timeZone", "Pacific/Kiritimati")  # UTC+14
    try:
        status = indicators.status_rows(records)
        assert status.columns == [*record.FIELD_NAMES, "date"]
        assert {r.date for r in status.select("date").collect()} == {date(2022, 5, 12)}
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


# --- indicators over time, held against the oracle ----------------------------------


def snapshot_polls(recs) -> list[Poll]:
    """The poll of each snapshot the records came from: its time and the stations it held."""
    listed: dict[datetime, set[str]] = {}
    for r in recs:
        listed.setdefault(r.observed_at, set()).add(r.station_code)
    return [
        Poll("replay:opendata-csv", f"snapshot@{at}", at, None, None, True, None,
             len(codes), 0, 0, tuple(sorted(codes)), ())
        for at, codes in sorted(listed.items())
    ]  # fmt: skip


def _tables(spark, recs, window_minutes: int, until: datetime):
    rows = [{**r.to_dict(), "partition": 0, "offset": i} for i, r in enumerate(recs)]
    polls = [
        {**p.to_dict(), "partition": 0, "offset": i} for i, p in enumerate(snapshot_polls(recs))
    ]
    step = timeline.advance(
        {},
        spark.createDataFrame(rows, timeline.state_schema()),
        spark.createDataFrame(polls, observation.batch_schema()),
        lo_us=None,
        hi_us=int(until.timestamp() * 1_000_000),
        window_us=window_minutes * 60 * 1_000_000,
        stale_after_us=2 * 3600 * 1_000_000,
    )
    frames = frames_of(step, window_minutes * 60.0)
    return {name: frame.toPandas() for name, frame in frames.items()}


@pytest.mark.parametrize("window_minutes", [15, 60])
def test_real_records_give_the_oracles_station_and_area_rows(spark, window_minutes):
    recs = real_records()
    until = ts("13:15")
    got = _tables(spark, recs, window_minutes, until)
    window = timedelta(minutes=window_minutes)
    want = oracle.station_windows(recs, window, timedelta(hours=2), until, snapshot_polls(recs))
    station = got["indicators_station"]
    assert len(station) == len(want)
    for row in station.itertuples():
        start = pd.Timestamp(row.window_start, tz="UTC").to_pydatetime()
        for column, value in want[(row.station_code, start)].items():
            actual = getattr(row, column)
            assert pd.isna(actual) if value is None else actual == pytest.approx(value), column
    assert station["polls_seen"].sum() > 0  # and 12:00-12:15 had no snapshot: carried forward
    assert (station["polls_seen"] == 0).any() == (window_minutes == 15)
    areas = oracle.area_windows(want, window, snapshot_polls(recs))
    area = got["indicators_area"]
    assert len(area) == len(areas)
    for row in area.itertuples():
        start = pd.Timestamp(row.window_start, tz="UTC").to_pydatetime()
        for column, value in areas[(start, row.area_level, row.area)].items():
            actual = getattr(row, column)
            assert pd.isna(actual) if value is None else actual == pytest.approx(value), column


def test_real_records_alerts(spark):
    recs = real_records()
    got = _tables(spark, recs, 15, ts("13:15"))["alerts"]
    as_set = {
        (r.station_code, r.alert, r.previous, pd.Timestamp(r.at, tz="UTC").to_pydatetime())
        for r in got.itertuples()
    }
    expected = oracle.alerts(recs, timedelta(hours=2), ts("13:15"), snapshot_polls(recs))
    assert as_set == expected
    intervals = oracle.seen_before(expected, snapshot_polls(recs))
    for r in got.itertuples():
        at = pd.Timestamp(r.at, tz="UTC").to_pydatetime()
        seen = r.seen_before_at
        seen = None if pd.isna(seen) else pd.Timestamp(seen, tz="UTC").to_pydatetime()
        assert seen == intervals[(r.station_code, r.alert, at)], (r.station_code, r.alert, at)
    # 15020 was last seen normal at 11:13:44, empty at the next poll
    empty = got[(got.station_code == "15020") & (got.alert == "empty")].iloc[0]
    assert pd.Timestamp(empty.seen_before_at, tz="UTC") == ts("11:13:44")
    # 15020 runs empty at 11:34:57 and recovers at 11:47:44; 14032 is out of service
    assert ("15020", "empty", "normal", ts("11:34:57")) in as_set
    assert ("15020", "normal", "empty", ts("11:47:44")) in as_set
    assert ("14032", "out_of_service", None, ts("10:22:18")) in as_set
