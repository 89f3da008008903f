"""The stream job against a real broker and a real SparkSession.

A slice of the real 2022-05-13 open-data history (tests/fixtures/history, 25
stations, 6 snapshots) goes through ingest into a topic; the job runs with
availableNow; its Parquet outputs are held against the records read back from
the topic and against indicators computed independently with pandas. A second
run after more records (and a re-sent one) arrive resumes from the checkpoints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from pipeline import alerts, indicators, kafka_io, record
from pipeline.ingest import ingest
from pipeline.sources import read_recorded
from pipeline.stream import run_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORY = Path(__file__).parent.parent / "fixtures" / "history"
WATERMARK = timedelta(minutes=30)
MALFORMED = b'{"station_code": "16107", "bikes_available": "plenty"'


def read_topic(bootstrap: str, topic: str) -> list[tuple[str | None, bytes]]:
    consumer = kafka_io.consumer(bootstrap, None, consumer_timeout_ms=4000)
    consumer.subscribe([topic])
    try:
        return [(m.key.decode() if m.key else None, m.value) for m in consumer]
    finally:
        consumer.close()


def valid(messages: list[tuple[str | None, bytes]]) -> list[record.StationRecord]:
    out = []
    for _, value in messages:
        try:
            out.append(record.from_json(value))
        except ValueError:
            continue
    return out


def naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def pandas_station_windows(recs: list[record.StationRecord], closed_before: datetime) -> list[Row]:
    """Station indicators of 15-minute windows ending by the watermark, with pandas."""
    df = pd.DataFrame([r.to_dict() for r in recs])
    df["start"] = pd.to_datetime(df["last_reported"], utc=True).dt.floor("15min")
    total = df["bikes_available"] + df["docks_available"]
    df["occ"] = (df["bikes_available"] / total).where(total > 0)
    df["oos"] = ~df["is_installed"] | (~df["is_renting"] & ~df["is_returning"])
    rows = []
    for (start, code), g in df.groupby(["start", "station_code"]):
        end = start + pd.Timedelta("15min")
        if end > closed_before:
            continue
        occ = g["occ"].dropna()
        rows.append(
            Row(
                window_start=naive(start.to_pydatetime()),
                station_code=code,
                n_reports=len(g),
                bikes_mean=float(g["bikes_available"].mean()),
                ebike_max=int(g["ebike_available"].max()),
                docks_min=int(g["docks_available"].min()),
                occupancy_mean=float(occ.mean()) if len(occ) else None,
                empty_share=float((g["bikes_available"] == 0).mean()),
                full_share=float((g["docks_available"] == 0).mean()),
                out_of_service_share=float(g["oos"].mean()),
            )
        )
    return rows


def check_outputs(spark, out: Path, recs: list[record.StationRecord], watermark: datetime):
    # status: exactly the produced records, once each
    status = spark.read.parquet(str(out / "status"))
    assert status.columns == [*record.FIELD_NAMES, "date"]
    produced = spark.createDataFrame([r.to_dict() for r in recs], record.spark_schema())
    assertDataFrameEqual(status.drop("date"), produced, checkRowOrder=False)
    assert status.where("date != to_date(last_reported)").count() == 0

    # station indicators: equal to pandas on the windows the watermark closed
    station = spark.read.parquet(str(out / "indicators_station"))
    assert station.columns == list(indicators.STATION_COLUMNS)
    expected = pandas_station_windows(recs, watermark)
    assert expected, "the slice should close some windows"
    assertDataFrameEqual(station.select(*expected[0].__fields__), expected, checkRowOrder=False)

    # area indicators: the commune rows roll up the station rows of each window
    area = spark.read.parquet(str(out / "indicators_area")).where("area_level = 'commune'")
    pst = station.toPandas()
    by_commune = (
        pst.dropna(subset=["commune"])
        .groupby(["window_start", "commune"])
        .agg(
            n=("station_code", "size"),
            bikes=("bikes_mean", "mean"),
            empty=("empty_share", lambda s: int((s > 0).sum())),
        )
        .reset_index()
    )
    assertDataFrameEqual(
        area.selectExpr("window_start", "area", "n_stations", "bikes_mean", "stations_empty"),
        [
            Row(
                window_start=r.window_start.to_pydatetime(),
                area=r.commune,
                n_stations=int(r.n),
                bikes_mean=float(r.bikes),
                stations_empty=int(r.empty),
            )
            for r in by_commune.itertuples()
        ],
        checkRowOrder=False,
    )


def test_stream_job_on_real_history(spark, kafka_bootstrap, make_topic, tmp_path):
    files = sorted(HISTORY.glob("*.csv*"))
    assert len(files) == 6
    topic, dead, alerts_topic = make_topic(3), make_topic(1), make_topic(1)
    out = tmp_path / "processed"

    ingest(
        [s for f in files[:4] for s in read_recorded(f)],
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        dead_letter_topic=dead,
        progress=False,
    )
    producer = kafka_io.producer(kafka_bootstrap)
    producer.send(topic, key="16107", value=MALFORMED)
    producer.flush()
    first = valid(read_topic(kafka_bootstrap, topic))
    assert len(first) > 50

    summary = run_stream(
        spark,
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        out_root=str(out),
        alerts_topic=alerts_topic,
    )
    wm1 = max(r.last_reported for r in first) - WATERMARK
    assert summary.records_in == len(first) + 1
    assert summary.rows["status"] == len(first)
    assert summary.rejected == 1
    check_outputs(spark, out, first, wm1)

    rejected = spark.read.parquet(str(out / "_rejected")).collect()
    assert [(r.key, r.value, r.topic) for r in rejected] == [("16107", MALFORMED.decode(), topic)]
    assert rejected[0].reason == "malformed JSON or a field of the wrong type"

    # alerts: the batch rules with "now" = the watermark give the same transitions
    got_alerts = spark.read.parquet(str(out / "alerts"))
    batch = alerts.alerts_batch(
        spark.createDataFrame([r.to_dict() for r in first], record.spark_schema()),
        "2 hours",
        now=wm1,
    )
    assertDataFrameEqual(got_alerts, batch, checkRowOrder=False)
    n_alerts = got_alerts.count()
    assert summary.alerts == n_alerts > 0

    # second run: two more snapshots and a re-sent record arrive
    ingest(
        [s for f in files[4:] for s in read_recorded(f)],
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        dead_letter_topic=dead,
        progress=False,
    )
    newest = max(first, key=lambda r: r.observed_at)
    producer.send(topic, key=newest.station_code, value=record.to_json(newest))
    producer.flush()
    producer.close()
    everything = valid(read_topic(kafka_bootstrap, topic))
    distinct = list(dict.fromkeys(everything))
    assert len(distinct) == len(everything) - 1  # the re-sent record

    summary2 = run_stream(
        spark,
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        out_root=str(out),
        alerts_topic=alerts_topic,
    )
    assert summary2.records_in == len(everything) - len(first)
    assert summary2.rejected == 0
    # reports older than the first run's watermark are late for the windows
    seen = set(first)
    on_time = first + [r for r in distinct if r not in seen and r.last_reported > wm1]
    wm2 = max(r.last_reported for r in on_time) - WATERMARK
    status = spark.read.parquet(str(out / "status")).drop("date")
    assertDataFrameEqual(
        status,
        spark.createDataFrame([r.to_dict() for r in distinct], record.spark_schema()),
        checkRowOrder=False,
    )
    station = spark.read.parquet(str(out / "indicators_station"))
    assert station.count() == station.dropDuplicates(["station_code", "window_start"]).count()
    assertDataFrameEqual(
        station.select(*pandas_station_windows(on_time, wm2)[0].__fields__),
        pandas_station_windows(on_time, wm2),
        checkRowOrder=False,
    )
    all_alerts = spark.read.parquet(str(out / "alerts"))
    assert all_alerts.count() == all_alerts.distinct().count() >= n_alerts

    # every alert was published once, as JSON keyed by station code
    published = read_topic(kafka_bootstrap, alerts_topic)
    assert len(published) == all_alerts.count() == n_alerts + summary2.alerts
    assert summary.alerts_published + summary2.alerts_published == len(published)
    first_msg = json.loads(published[0][1])
    assert set(first_msg) == set(alerts.COLUMNS)
    assert published[0][0] == first_msg["station_code"]
    assert first_msg["at"].endswith("Z")
    keys = {(k, json.loads(v)["alert"], json.loads(v)["at"]) for k, v in published}
    parquet = {
        (r.station_code, r.alert, r.at.strftime("%Y-%m-%dT%H:%M:%SZ")) for r in all_alerts.collect()
    }
    assert keys == parquet
