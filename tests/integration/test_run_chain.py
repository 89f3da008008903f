"""`velib run` end to end on real recorded snapshots: Kafka, CSV capture and Parquet agree."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from pipeline import record
from pipeline.kafka import clients
from pipeline.run import run
from pipeline.settings.run import RunSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORY = Path(__file__).parent.parent / "fixtures" / "history"


def _topic_records(bootstrap: str, topic: str) -> list[record.StationRecord]:
    consumer = clients.consumer(bootstrap, None, consumer_timeout_ms=5000)
    consumer.subscribe([topic])
    try:
        return [record.from_json(m.value) for m in consumer]
    finally:
        consumer.close()


def _csv_rows(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("date=*/*.csv"))
    assert files, f"no CSV published under {folder}"
    return pd.concat([pd.read_csv(f, dtype=record.pandas_dtypes()) for f in files])


def test_run_chain_agrees_across_kafka_csv_and_parquet(
    kafka_bootstrap, spark, tmp_path, monkeypatch
):
    topic = f"run-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("VELIB_TOPIC_STATUS", topic)
    monkeypatch.setenv("VELIB_TOPIC_ALERTS", f"{topic}-alerts")
    monkeypatch.setenv("VELIB_TOPIC_DEAD_LETTER", f"{topic}-dlq")
    monkeypatch.setenv("VELIB_TOPIC_POLLS", f"{topic}-polls")
    out = tmp_path / "processed"
    (out / "stale-from-an-earlier-run").mkdir(parents=True)
    metrics = tmp_path / "stream.json"

    settings = RunSettings.build(
        {
            "raw": [HISTORY],
            "csv_out": tmp_path / "csv",
            "out": out,
            "work_dir": tmp_path / "run",
            "metrics": metrics,
            "bootstrap_servers": kafka_bootstrap,
            "heartbeat_s": 0,
        }
    )
    summary = run(settings.replace(idle_s=3))

    # What ingest put on the topic, read back independently of capture and Spark.
    produced = _topic_records(kafka_bootstrap, topic)
    assert len(produced) == summary.ingest.emitted > 0
    keys = {(r.station_code, r.observed_at) for r in produced}
    assert len(keys) == len(produced), "a station emitted twice for one snapshot"

    csv = _csv_rows(tmp_path / "csv")
    assert len(csv) == len(produced) == summary.capture.records
    assert sorted(zip(csv.station_code, csv.observed_at, strict=True)) == sorted(
        (r.station_code, record.format_timestamp(r.observed_at)) for r in produced
    )

    status = spark.read.parquet(str(out / "status")).select("station_code", "observed_at")
    assert status.count() == len(produced)
    assert not (out / "stale-from-an-earlier-run").exists(), "outputs must be rewritten"
    # Working state (checkpoints, the stream's own tables, resume points) stays out of outputs.
    assert not (out / "_checkpoints").exists() and not (tmp_path / "csv" / "_offsets").exists()
    assert (tmp_path / "run" / "stream" / "_checkpoints").is_dir()
    assert spark.read.parquet(str(tmp_path / "run" / "stream" / "status")).count() == len(produced)

    written = json.loads(metrics.read_text())
    assert written["topic_records"] == len(produced)
    assert written["stations"] == len({r.station_code for r in produced})
    assert len(written) <= 8, "dvc metrics show must stay readable"
    details = json.loads(metrics.with_name("stream_details.json").read_text())
    assert details["ingest"]["emitted"] == len(produced)
    assert details["dataset"]["rows"] == len(produced)
    # the poll log: one poll per snapshot file, on its topic, in the table, on the summary lines
    files = len(list(HISTORY.glob("*.csv*")))
    assert summary.ingest.polls == summary.stream["polls_in"] == files
    assert summary.stream["rows"]["polls"] == files
    assert spark.read.parquet(str(out / "polls")).count() == files
    lines = summary.lines()
    assert f"polls={files}" in lines[0] and f"polls_in={files} " in lines[2]
    assert details["ingest"]["polls"] == details["stream"]["polls_in"] == files
