"""The stream job against a real broker and a real SparkSession, held against an oracle.

A slice of the real 2022-05-13 open-data history (tests/fixtures/history, 25
stations, 6 snapshots) goes through ingest (with its heartbeat) into a
3-partition topic; the job's tables are compared with ``tests/oracle.py``, an
independent plain-Python computation of the states in force written from the
definitions, sharing no code with the pipeline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from pipeline import record, vocabulary
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream import alerts
from pipeline.stream.job import run_stream
from tests import oracle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORY = Path(__file__).parent.parent / "fixtures" / "history"
WINDOW = timedelta(minutes=15)
STALE = timedelta(hours=2)
HEARTBEAT_S = 3600
MALFORMED = b'{"station_code": "16107", "bikes_available": "plenty"'


def read_topic(bootstrap: str, topic: str) -> list[tuple[str | None, bytes]]:
    consumer = clients.consumer(bootstrap, None, consumer_timeout_ms=4000)
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


def table(out: Path, name: str) -> pd.DataFrame:
    df = ds.dataset(out / name, format="parquet", partitioning="hive").to_table().to_pandas()
    for column in ("window_start", "window_end", "at", "observed_at", "last_reported"):
        if column in df:
            df[column] = pd.to_datetime(df[column], utc=True)
    return df


def until(summary) -> datetime:
    return datetime.fromisoformat(summary.complete_until.replace("Z", "+00:00"))


def check_against_oracle(out: Path, recs: list[record.StationRecord], complete: datetime) -> None:
    """Every station row, area row and alert equals the oracle's, and nothing more."""
    expected = oracle.station_windows(recs, WINDOW, STALE, complete)
    got = table(out, "indicators_station")
    assert list(got.columns) == [c for c in vocabulary.names(vocabulary.STATION) if c != "date"] + [
        "date"
    ]
    got_keys = list(zip(got["station_code"], got["window_start"], strict=True))
    assert len(got_keys) == len(set(got_keys)), "a (station, window) row was written twice"
    assert set(got_keys) == set(expected)
    for row in got.itertuples():
        want = expected[(row.station_code, row.window_start.to_pydatetime())]
        for column, value in want.items():
            actual = getattr(row, column)
            if value is None:
                assert pd.isna(actual), (row.station_code, row.window_start, column)
            elif isinstance(value, float):
                assert actual == pytest.approx(value), (row.station_code, column)
            else:
                assert actual == value, (row.station_code, row.window_start, column)

    areas = oracle.area_windows(expected, WINDOW)
    got_areas = table(out, "indicators_area")
    assert len(got_areas) == len(areas)
    for row in got_areas.itertuples():
        want = areas[(row.window_start.to_pydatetime(), row.area_level, row.area)]
        for column, value in want.items():
            actual = getattr(row, column)
            assert pd.isna(actual) if value is None else actual == pytest.approx(value), column

    got_alerts = table(out, "alerts")
    as_tuples = {
        (r.station_code, r.alert, None if pd.isna(r.previous) else r.previous, r.at.to_pydatetime())
        for r in got_alerts.itertuples()
    }
    assert len(as_tuples) == len(got_alerts)
    assert as_tuples == oracle.alerts(recs, STALE, complete)


def ingest_files(bootstrap: str, topic: str, dead: str, files: list[Path]) -> None:
    ingest(
        [s for f in files for s in read_recorded(f)],
        bootstrap_servers=bootstrap,
        topic=topic,
        dead_letter_topic=dead,
        heartbeat_s=HEARTBEAT_S,
        progress=False,
    )


def test_stream_job_on_real_history(spark, kafka_bootstrap, make_topic, tmp_path):
    files = sorted(HISTORY.glob("*.csv*"))
    assert len(files) == 6
    topic, dead, alerts_topic = make_topic(3), make_topic(1), make_topic(1)
    out = tmp_path / "processed"
    ingest_files(kafka_bootstrap, topic, dead, files[:4])
    producer = clients.producer(kafka_bootstrap)
    producer.send(topic, key="16107", value=MALFORMED)
    producer.flush()
    first = valid(read_topic(kafka_bootstrap, topic))
    assert len(first) > 50

    summary = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "out": str(out),
                "alerts_topic": alerts_topic,
            }
        ),
    )
    assert summary.records_in == len(first) + 1
    assert summary.rows["status"] == len(first) and summary.late == 0
    assert summary.rejected == 1
    status = table(out, "status")
    assert len(status) == len(first)
    assert set(status["station_code"] + status["observed_at"].astype(str)) == {
        r.station_code + str(pd.Timestamp(r.observed_at)) for r in first
    }
    complete = until(summary)
    newest = max(r.observed_at for r in first)
    assert newest - WINDOW < complete <= newest  # all but the window still open
    check_against_oracle(out, first, complete)

    rejected = table(out, "_rejected")
    assert list(zip(rejected["key"], rejected["value"], strict=True)) == [
        ("16107", MALFORMED.decode())
    ]
    assert rejected["reason"].iloc[0] == "malformed JSON or a field of the wrong type"

    # second run: two more snapshots and a re-sent record arrive; the checkpoint resumes
    ingest_files(kafka_bootstrap, topic, dead, files[4:])
    last = max(first, key=lambda r: r.observed_at)
    producer.send(topic, key=last.station_code, value=record.to_json(last))
    producer.flush()
    producer.close()
    everything = valid(read_topic(kafka_bootstrap, topic))
    summary2 = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "out": str(out),
                "alerts_topic": alerts_topic,
            }
        ),
    )
    assert summary2.records_in == len(everything) - len(first)
    assert summary2.rows["status"] == len(everything) - len(first) - 1  # not the re-sent one
    assert summary2.late == summary2.rejected == 1
    resent = table(out, "_rejected").query("offset > 0 and key == @last.station_code")
    assert list(resent["reason"]) == [
        "out of order: observed before an earlier record of the station"
    ]
    check_against_oracle(out, everything, until(summary2))

    # every alert was published once, as JSON keyed by station code
    published = read_topic(kafka_bootstrap, alerts_topic)
    all_alerts = table(out, "alerts")
    assert len(published) == len(all_alerts) == summary.alerts + summary2.alerts > 0
    message = json.loads(published[0][1])
    assert set(message) == set(alerts.COLUMNS)
    assert published[0][0] == message["station_code"] and message["at"].endswith("Z")


def test_uneven_partitions_drop_nothing(spark, kafka_bootstrap, make_topic, tmp_path):
    # Tiny micro-batches over 3 partitions: partitions advance unevenly in observed time.
    # An event-time watermark would drop records as late here; the frontier only waits.
    topic, dead = make_topic(3), make_topic(1)
    ingest_files(kafka_bootstrap, topic, dead, sorted(HISTORY.glob("*.csv*")))
    recs = valid(read_topic(kafka_bootstrap, topic))
    out = tmp_path / "processed"
    summary = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "out": str(out),
                "alerts_topic": make_topic(1),
                "max_offsets_per_trigger": 25,
            }
        ),
    )
    assert summary.batches >= 5 and summary.late == 0
    assert summary.rows["status"] == len(recs) == len(table(out, "status"))
    check_against_oracle(out, recs, until(summary))


def test_kill_9_mid_run_then_restart_gives_the_same_tables(
    spark, kafka_bootstrap, make_topic, tmp_path
):
    topic, dead = make_topic(3), make_topic(1)
    ingest_files(kafka_bootstrap, topic, dead, sorted(HISTORY.glob("*.csv*")))
    recs = valid(read_topic(kafka_bootstrap, topic))
    out, alerts_topic = tmp_path / "processed", make_topic(1)
    argv = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "stream",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic",
        topic,
        "--out",
        str(out),
        "--alerts-topic",
        alerts_topic,
        "--max-offsets-per-trigger",
        "30",
    ]
    env = {**os.environ, "VELIB_SPARK_DRIVER_MEMORY": "1g"}
    log = tmp_path / "stream.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 240
        while "stream batch 2:" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the job did not reach its third batch"
            time.sleep(0.2)
        time.sleep(1.0)  # somewhere inside a later batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    summary = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "out": str(out),
                "alerts_topic": alerts_topic,
                "max_offsets_per_trigger": 30,
            }
        ),
    )
    assert len(table(out, "status")) == len(recs)
    check_against_oracle(out, recs, until(summary))
