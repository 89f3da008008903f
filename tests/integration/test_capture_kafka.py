"""Capture against a real broker: exactly what was produced, after crashes and rebalances."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kafka import TopicPartition

from pipeline import record
from pipeline.capture.files import CAPTURE_HEADER
from pipeline.capture.job import capture, pandas_read_options, read_captured, read_rejected
from pipeline.kafka import clients
from pipeline.settings.capture import CaptureSettings
from pipeline.sources.recorded import read_recorded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Real records over six UTC dates: a 2022-05-13 time series, open-data layouts, GBFS.
SLICES = [FIXTURES / "history", FIXTURES / "opendata", FIXTURES / "gbfs"]
MALFORMED = [b"<html>503 Service Temporarily Unavailable</html>", b"\xff\xfe\x00not utf-8", None]


def capture_to(bootstrap: str, topic: str, out: Path, group: str, **options: object):
    """Capture ``topic`` into ``out`` with the settings ``velib capture`` would build."""
    given = {"bootstrap_servers": bootstrap, "topic": topic, "out": out, "group": group}
    return capture(CaptureSettings.build({**given, **options}))


def _real_records() -> list[record.StationRecord]:
    return [r for path in SLICES for snap in read_recorded(path) for r in snap.records]


def _produce(bootstrap: str, topic: str, records: list[record.StationRecord], bad=()) -> None:
    producer = clients.producer(bootstrap)
    try:
        for rec in records:
            producer.send(topic, key=rec.station_code, value=record.to_json(rec))
        for i, value in enumerate(bad):
            producer.send(topic, key=f"bad-{i}", value=value)
        producer.flush()
    finally:
        producer.close()


def _captured(out: Path) -> collections.Counter:
    return collections.Counter(c.record for c in read_captured(out))


def _coordinates(out: Path) -> list[tuple[int, int]]:
    return [(c.partition, c.offset) for c in read_captured(out)]


def _assert_exactly(out: Path, produced: list[record.StationRecord]) -> None:
    assert _captured(out) == collections.Counter(produced)
    coordinates = _coordinates(out)
    assert len(coordinates) == len(set(coordinates)) == len(produced)
    assert not list(out.rglob("*.tmp"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "capture", *args]


def _capture_args(bootstrap: str, topic: str, group: str, out: Path, *extra: str) -> list[str]:
    """`velib capture` options shared by the subprocess tests."""
    return [
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group", group, "--out", str(out),
        *extra,
    ]  # fmt: skip


def test_capture_writes_every_produced_record_once(kafka_bootstrap, make_topic, group_id, tmp_path):
    topic = make_topic(partitions=3)
    produced = _real_records()
    _produce(kafka_bootstrap, topic, produced, MALFORMED)
    out = tmp_path / "csv"

    summary = capture_to(kafka_bootstrap, topic, out, group_id, until_idle_s=3, max_records=40)

    assert summary.records == len(produced) and summary.rejected == len(MALFORMED)
    assert summary.partitions == {0, 1, 2}
    _assert_exactly(out, produced)
    dates = {p.parent.name for p in out.glob("date=*/part-*.csv")}
    assert dates == {f"date={r.observed_at:%Y-%m-%d}" for r in produced}
    assert {row["key"]: row["encoding"] for row in read_rejected(out)} == {
        "bad-0": "utf-8",
        "bad-1": "base64",
        "bad-2": "null",
    }
    # Every file reads with pandas, typed, rows within the rotation limit.
    frames = [pd.read_csv(p, **pandas_read_options()) for p in out.glob("date=*/part-*.csv")]
    assert all(list(f.columns) == list(CAPTURE_HEADER) and len(f) <= 40 for f in frames)
    assert sum(len(f) for f in frames) == len(produced)

    # Running again, with the same group or a new one, adds nothing: the folder knows.
    files = sorted(out.rglob("*.csv"))
    for group in (group_id, group_id + "-other"):
        again = capture_to(kafka_bootstrap, topic, out, group, until_idle_s=2)
        assert again.records == 0 and again.rejected == 0
    assert sorted(out.rglob("*.csv")) == files

    # The same group into a fresh folder copies everything again: the folder is the truth.
    fresh = tmp_path / "fresh"
    copy = capture_to(kafka_bootstrap, topic, fresh, group_id, until_idle_s=2)
    assert copy.records == len(produced)
    _assert_exactly(fresh, produced)

    # A crash after the renames but before the offsets file: nothing written twice.
    for path in (out / "_offsets").glob("*.json"):
        path.write_text(
            json.dumps({"topic": topic, "partition": int(path.stem[-5:]), "next_offset": 0})
        )
    third = capture_to(kafka_bootstrap, topic, out, group_id + "-third", until_idle_s=2)
    assert third.records == 0 and third.skipped == len(produced) + len(MALFORMED)
    _assert_exactly(out, produced)


def test_spark_reads_the_capture_folder(kafka_bootstrap, make_topic, group_id, tmp_path, spark):
    topic = make_topic(partitions=2)
    produced = _real_records()
    _produce(kafka_bootstrap, topic, produced)
    out = tmp_path / "csv"
    capture_to(kafka_bootstrap, topic, out, group_id, until_idle_s=3)
    frame = spark.read.csv(str(out), header=True, schema=None, inferSchema=False)
    assert frame.count() == len(produced)
    assert set(frame.columns) == {*CAPTURE_HEADER, "date"}


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = clients.consumer(bootstrap, None)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = consumer.end_offsets(tps)
        return [ends[tp] for tp in tps]
    finally:
        consumer.close()


def test_kill_9_in_the_middle_of_a_file_then_restart(
    kafka_bootstrap, make_topic, group_id, tmp_path
):
    topic = make_topic(partitions=2)
    produced = _real_records()
    first, second = produced[: len(produced) // 2], produced[len(produced) // 2 :]
    _produce(kafka_bootstrap, topic, first)
    out = tmp_path / "csv"
    rows = 17
    args = _capture_args(kafka_bootstrap, topic, group_id, out, "--max-records", str(rows))
    ends = _end_offsets(kafka_bootstrap, topic, 2)
    full_files = sum(end // rows * rows for end in ends)
    assert any(end % rows for end in ends), "need a partition that ends mid-file"

    # Files of 17 rows get published; each partition's remainder waits in a temp file
    # (max-seconds is an hour), so kill -9 then is a kill in the middle of a file.
    proc = subprocess.Popen(
        _cli(*args, "--follow", "--max-seconds", "3600"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: (
                sum(1 for _ in read_captured(out)) >= full_files and list(out.rglob(".part-*.tmp"))
            ),
            90,
            "full files and an open temp file",
        )
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(out.rglob(".part-*.tmp")), "the kill should leave a half-written file"
    assert sum(1 for _ in read_captured(out)) == full_files < len(first)

    _produce(kafka_bootstrap, topic, second)
    done = subprocess.run(
        _cli(*args, "--until-idle", "4"), cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_exactly(out, produced)


def test_sigterm_publishes_pending_rows_and_exits_0(
    kafka_bootstrap, make_topic, group_id, tmp_path
):
    topic = make_topic(partitions=1)
    produced = _real_records()[:50]
    _produce(kafka_bootstrap, topic, produced)
    out = tmp_path / "csv"
    args = _capture_args(kafka_bootstrap, topic, group_id, out)
    proc = subprocess.Popen(
        _cli(*args, "--follow", "--max-seconds", "3600"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: list(out.rglob(".part-*.tmp")), 60, "an open file")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert stdout.startswith("capture: records=") and not list(out.rglob("*.tmp"))
    got = [c.offset for c in read_captured(out)]
    assert got == list(range(len(got))) and got, "what was consumed is published, in order"
    rest = subprocess.run(
        _cli(*args, "--until-idle", "3"), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert rest.returncode == 0, rest.stderr[-2000:]
    _assert_exactly(out, produced)


def test_two_processes_in_one_group_write_each_record_once(
    kafka_bootstrap, make_topic, group_id, tmp_path
):
    topic = make_topic(partitions=4)
    produced = _real_records()
    out = tmp_path / "csv"
    args = _capture_args(
        kafka_bootstrap, topic, group_id, out, "--until-idle", "10", "--max-records", "25"
    )
    procs = [
        subprocess.Popen(
            _cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        time.sleep(4)  # both join the group and split the partitions
        third = len(produced) // 3
        for chunk in (produced[:third], produced[third : 2 * third], produced[2 * third :]):
            _produce(kafka_bootstrap, topic, chunk)
            time.sleep(0.5)
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    _assert_exactly(out, produced)
    counts = [int(re.search(r"capture: records=(\d+) ", stdout)[1]) for stdout, _ in results]
    assert sum(counts) == len(produced)
    assert all(counts), f"both processes should have taken partitions: {counts}"
