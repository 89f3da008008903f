"""The stream job on a real Spark standalone cluster: driver killed mid-run, restarted.

Local mode runs driver and executors in one JVM; here the master, the worker
and the executor are JVMs of their own (tests/sparkcluster.py), the executor
fetches the driver's ``spark.jars`` (Kafka connector, Delta) and writes the
Delta tables, and the driver is a separate ``velib stream --master spark://``
process. Killing the driver's whole process group (Python and its JVM) in the
middle of the run and starting it again must give the tables an uninterrupted
local run gives, with no batch committed twice: exactly once across processes,
not only inside one JVM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.settings.stream import StreamSettings
from pipeline.stream.job import run_stream
from tests.integration.test_stream_kafka import (
    HISTORY,
    ingest_files,
    read_topic,
    same_tables,
    table,
    valid,
)
from tests.sparkcluster import standalone_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


def _until(what: str, check, proc: subprocess.Popen | None, log: Path, timeout_s: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not check():
        assert proc is None or proc.poll() is None, _log_tail(log)
        assert time.monotonic() < deadline, f"{what} after {timeout_s:.0f} s: {_log_tail(log)}"
        time.sleep(0.3)


@pytest.mark.timeout(1800)  # four JVMs of a cluster, the broker and the local session
def test_driver_killed_on_a_standalone_cluster_then_restarted_gives_the_same_tables(
    spark, kafka_bootstrap, make_topic, tmp_path
):
    topic, dead, alerts_topic = make_topic(3), make_topic(1), make_topic(1)
    ingest_files(kafka_bootstrap, topic, dead, sorted(HISTORY.glob("*.csv*")))
    recs = valid(read_topic(kafka_bootstrap, topic))
    out = tmp_path / "processed"
    options = {
        "bootstrap_servers": kafka_bootstrap,
        "topic": topic,
        "polls_topic": f"{topic}-polls",
        "max_offsets_per_trigger": 50,  # three batches of the 138 records
    }
    argv = [sys.executable, "-m", "pipeline.cli", "stream", "--out", str(out),
            "--alerts-topic", alerts_topic]  # fmt: skip
    argv += [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]

    with standalone_cluster(tmp_path / "cluster") as cluster:
        env = {**cluster.env(), "VELIB_SPARK_DRIVER_MEMORY": "768m"}
        log = tmp_path / "driver.log"

        def driver() -> subprocess.Popen:
            with log.open("ab") as sink:
                return subprocess.Popen(
                    argv, stdout=sink, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True,
                )  # fmt: skip

        first = driver()
        _until("the second batch", lambda: "stream batch 1:" in log.read_text(errors="replace"),
               first, log, 1200)  # fmt: skip
        apps = cluster.state()["activeapps"]
        assert len(apps) == 1, apps  # the job runs as an application of the cluster
        # the executor is a JVM of the worker's, with the driver's jars fetched beside it
        fetched = {p.name for p in cluster.work_dir.glob(f"{apps[0]['id']}/*/*.jar")}
        assert any(n.startswith("delta-spark") for n in fetched), fetched
        assert any(n.startswith("spark-sql-kafka") for n in fetched), fetched
        time.sleep(1.0)  # somewhere inside a later batch
        os.killpg(first.pid, signal.SIGKILL)  # the driver's Python and its JVM
        first.wait()
        # the master drops the dead driver's application and the worker its executor
        _until("the dead driver's application gone",
               lambda: not cluster.state()["activeapps"], None, log, 120)  # fmt: skip

        second = driver()
        assert second.wait(timeout=900) == 0, _log_tail(log)
        # both drivers were applications of the cluster (the master files the second
        # as completed a moment after its driver exits)
        _until("both applications completed",
               lambda: len(cluster.state()["completedapps"]) == 2, None, log, 60)  # fmt: skip

    assert len(table(out, "status")) == len(recs)
    reference = tmp_path / "reference"  # the same job, never interrupted, in local mode
    run_stream(
        spark,
        StreamSettings.build({**options, "out": str(reference), "alerts_topic": make_topic(1)}),
    )
    same_tables(out, reference)
