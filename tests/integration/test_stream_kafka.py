"""The stream job against a real broker and a real SparkSession, held against an oracle.

A slice of the real 2022-05-13 open-data history (tests/fixtures/history, 25
stations, 6 snapshots) goes through ingest (with its heartbeat) into a
3-partition topic and its polls topic; the job's tables are compared with
``tests/oracle.py``, an independent plain-Python computation of the states in
force and of what the polls saw, written from the definitions, sharing no
code with the pipeline.
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
import pytest
from deltalake import DeltaTable

from pipeline import poll, record, vocabulary
from pipeline.delta.read import read_arrow
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import origin_of, read_recorded
from pipeline.stream import alerts
from pipeline.stream.export import ORDER, canonical, read_stream_table
from pipeline.stream.job import run_stream
from pipeline.stream.microbatch import OUTPUTS
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


def polls_of(messages: list[tuple[str | None, bytes]]) -> list[poll.Poll]:
    return [poll.from_json(value) for _, value in messages]


def table(out: Path, name: str) -> pd.DataFrame:
    df = read_arrow(out / name).to_pandas()  # the Delta table's rows, as deltalake reads them
    for column in ("window_start", "window_end", "at", "observed_at", "last_reported",
                   "seen_before_at", "polled_at", "feed_time"):  # fmt: skip
        if column in df:
            df[column] = pd.to_datetime(df[column], utc=True)
    return df


def until(summary) -> datetime:
    return datetime.fromisoformat(summary.complete_until.replace("Z", "+00:00"))


def check_against_oracle(
    out: Path, recs: list[record.StationRecord], complete: datetime, polls: list[poll.Poll]
) -> None:
    """Every station row, area row, alert and poll equals the oracle's, and nothing more."""
    expected = oracle.station_windows(recs, WINDOW, STALE, complete, polls)
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

    areas = oracle.area_windows(expected, WINDOW, polls)
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
    assert as_tuples == oracle.alerts(recs, STALE, complete, polls)
    intervals = oracle.seen_before(as_tuples, polls)
    for r in got_alerts.itertuples():
        seen = None if pd.isna(r.seen_before_at) else r.seen_before_at.to_pydatetime()
        assert seen == intervals[(r.station_code, r.alert, r.at.to_pydatetime())]
    assert got_alerts["seen_before_at"].notna().any()

    got_polls = table(out, "polls").sort_values("observed_at", ignore_index=True)
    want_polls = oracle.distinct_polls(polls)
    assert list(got_polls.columns) == [*poll.FIELD_NAMES, "date"]
    assert list(got_polls["origin"]) == [p.origin for p in want_polls]
    assert [tuple(x) for x in got_polls["listed"]] == [p.listed for p in want_polls]
    assert list(got_polls["emitted"]) == [p.emitted for p in want_polls]


def ingest_files(bootstrap: str, topic: str, dead: str, files: list[Path]) -> None:
    settings = IngestSettings.build(
        {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "dead_letter_topic": dead,
            "polls_topic": f"{topic}-polls",
            "heartbeat_s": HEARTBEAT_S,
        }
    )
    ingest([s for f in files for s in read_recorded(f)], settings, progress=False)


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
                "polls_topic": f"{topic}-polls",
                "out": str(out),
                "alerts_topic": alerts_topic,
            }
        ),
    )
    assert summary.records_in == len(first) + 1
    assert summary.polls_in == summary.rows["polls"] == 4  # one per file
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
    check_against_oracle(
        out, first, complete, polls_of(read_topic(kafka_bootstrap, f"{topic}-polls"))
    )

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
                "polls_topic": f"{topic}-polls",
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
    assert summary2.polls_in == summary2.rows["polls"] == 2
    check_against_oracle(
        out, everything, until(summary2), polls_of(read_topic(kafka_bootstrap, f"{topic}-polls"))
    )

    # every alert was published once, as JSON keyed by station code
    published = read_topic(kafka_bootstrap, alerts_topic)
    all_alerts = table(out, "alerts")
    assert len(published) == len(all_alerts) == summary.alerts + summary2.alerts > 0
    message = json.loads(published[0][1])
    assert set(message) == set(alerts.COLUMNS)
    assert published[0][0] == message["station_code"] and message["at"].endswith("Z")


@pytest.mark.timeout(1800)  # many tiny batches, each a Delta commit per table and state
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
                "polls_topic": f"{topic}-polls",
                "out": str(out),
                "alerts_topic": make_topic(1),
                "max_offsets_per_trigger": 25,
            }
        ),
    )
    assert summary.batches >= 5 and summary.late == 0
    assert summary.rows["status"] == len(recs) == len(table(out, "status"))
    polls = polls_of(read_topic(kafka_bootstrap, f"{topic}-polls"))
    check_against_oracle(out, recs, until(summary), polls)
    # one poll row per snapshot file; a window with no snapshot in it was not observed
    files = sorted(HISTORY.glob("*.csv*"))
    assert sorted(table(out, "polls")["origin"]) == [origin_of(f) for f in files]
    station, area = table(out, "indicators_station"), table(out, "indicators_area")
    network = area[area["area_level"] == "network"].set_index("window_start")
    taken = {
        (p.observed_at.replace(minute=p.observed_at.minute // 15 * 15, second=0)) for p in polls
    }
    empty = network[~network.index.isin(list(taken))]
    assert len(empty) > 0 and set(empty["polls"]) == {0} and set(empty["stations_seen"]) == {0}
    assert set(network.loc[network.index.isin(list(taken)), "polls"]) == {1}
    unobserved = station[~station["window_start"].isin(list(taken))]
    assert len(unobserved) > 0 and set(unobserved["polls_seen"]) == {0}
    assert set(station[station["window_start"].isin(list(taken))]["polls_seen"]) == {1}


def same_tables(out: Path, reference: Path) -> None:
    """Every table equals the reference's, row for row, and no key appears twice."""
    for name in OUTPUTS:
        got, want = (canonical(read_stream_table(root, name), name) for root in (out, reference))
        keys = got.select(list(ORDER[name])).to_pylist()
        assert len({tuple(k.values()) for k in keys}) == len(keys), f"{name}: a row twice"
        assert got.equals(want), f"{name}: {got.num_rows} rows, {want.num_rows} uninterrupted"
        commits = [c for c in DeltaTable(str(out / name)).history() if c["operation"] == "WRITE"]
        batches = [json.loads(c["userMetadata"])["batch_id"] for c in commits]
        assert len(batches) == len(set(batches)), f"{name}: a batch committed twice"


@pytest.mark.timeout(1800)  # two runs of the job, each of many small batches
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
        "--polls-topic",
        f"{topic}-polls",
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
        deadline = time.monotonic() + 600  # start-up and three batches of Delta commits
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
                "polls_topic": f"{topic}-polls",
                "out": str(out),
                "alerts_topic": alerts_topic,
                "max_offsets_per_trigger": 30,
            }
        ),
    )
    assert len(table(out, "status")) == len(recs)
    polls = polls_of(read_topic(kafka_bootstrap, f"{topic}-polls"))
    check_against_oracle(out, recs, until(summary), polls)
    # the same job, never interrupted, over the same topic: the same Delta tables
    reference = tmp_path / "reference"
    run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "polls_topic": f"{topic}-polls",
                "out": str(reference),
                "alerts_topic": make_topic(1),
                "max_offsets_per_trigger": 30,
            }
        ),
    )
    same_tables(out, reference)
