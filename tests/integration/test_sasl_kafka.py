"""SASL end to end: a real Kafka broker that only takes SCRAM-SHA-512 logins.

One SASL broker serves the module (``LocalBroker(sasl=True)``). Every client
gets its credentials from the environment only, as a user who sourced
``client.env``: the recorded history goes through ingest, capture (CSV) and the
Spark job (Kafka source and alerts sink over SASL) with ``pipeline.run.run`` and with
``velib stream``; with a wrong password each stage fails at once with one line.
The password must appear in no file the runs write and no log line they emit.
"""

from __future__ import annotations

import csv
import logging
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pipeline.capture.job import capture
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.kafka.broker import LocalBroker
from pipeline.kafka.broker_files import read_client_env
from pipeline.kafka.security import KafkaAuthError, auth_failure
from pipeline.run import RunSummary, run
from pipeline.settings.capture import CaptureSettings
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.run import RunSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream.job import run_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "fixtures" / "history"
WRONG = "not-the-password-5b1f"


class _Records(logging.Handler):
    """Every log record of the run, formatted, to search for the password."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _client_env(broker: LocalBroker, **changes: str) -> dict[str, str]:
    """The process environment with no KAFKA_* but the broker's client variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return {**env, **broker.client_env(), **changes}


def _use_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith(("KAFKA_", "VELIB_TOPIC_"))]:
        mp.delenv(key)
    for key, value in env.items():
        mp.setenv(key, value)


def _files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _read_topic(topic: str) -> int:
    consumer = clients.consumer(
        os.environ["KAFKA_BOOTSTRAP_SERVERS"], None, consumer_timeout_ms=2000
    )
    consumer.subscribe([topic])
    try:
        return sum(1 for _ in consumer)
    finally:
        consumer.close()


def _csv_rows(folder: Path) -> int:
    files = sorted(folder.glob("date=*/*.csv"))
    assert files, f"no CSV published under {folder}"
    rows = 0
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            rows += sum(1 for _ in csv.DictReader(fh))
    return rows


@pytest.fixture(scope="module")
def sasl_broker(java: str) -> Iterator[LocalBroker]:
    broker = LocalBroker(sasl=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class ChainRun:
    summary: RunSummary
    out: Path
    topic: str
    log_lines: list[str]


@pytest.fixture(scope="module")
def chain_run(sasl_broker: LocalBroker, spark, tmp_path_factory) -> Iterator[ChainRun]:  # noqa: ANN001
    """The whole chain once over SASL, every log record kept (DEBUG, kafka and py4j too)."""
    out = tmp_path_factory.mktemp("sasl-chain")
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    handler = _Records()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(n) for n in ("", "kafka", "py4j", "pipeline")]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as mp:
        _use_env(mp, sasl_broker.client_env())
        mp.setenv("VELIB_TOPIC_STATUS", topic)
        mp.setenv("VELIB_TOPIC_ALERTS", f"{topic}-alerts")
        mp.setenv("VELIB_TOPIC_DEAD_LETTER", f"{topic}-dlq")
        mp.setenv("VELIB_TOPIC_POLLS", f"{topic}-polls")
        try:
            settings = RunSettings.build(
                {
                    "raw": [HISTORY],
                    "csv_out": out / "csv",
                    "out": out / "processed",
                    "work_dir": out / "run",
                    "metrics": out / "metrics" / "stream.json",
                    "bootstrap_servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                    "heartbeat_s": 0,
                }
            )
            summary = run(settings.replace(idle_s=3))
        finally:
            root.removeHandler(handler)
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
        yield ChainRun(summary, out, topic, handler.lines)


def test_the_chain_runs_over_sasl_with_credentials_from_the_environment(chain_run, spark):
    summary, out = chain_run.summary, chain_run.out
    emitted = summary.ingest.emitted
    assert emitted > 0 and summary.ingest.delivery_errors == 0
    assert summary.capture.records == emitted
    assert _csv_rows(out / "csv") == emitted
    assert spark.read.parquet(str(out / "processed" / "status")).count() == emitted
    assert summary.stream["records_in"] == emitted
    alerts = summary.stream["rows"]["alerts"]
    assert alerts > 0 and summary.stream["alerts_published"] == alerts
    assert (out / "metrics" / "stream.json").is_file()


def test_alerts_reached_the_sasl_topic(chain_run, sasl_broker, monkeypatch):
    _use_env(monkeypatch, sasl_broker.client_env())
    assert _read_topic(f"{chain_run.topic}-alerts") == chain_run.summary.stream["alerts_published"]


def test_the_password_is_in_no_output_and_no_log_line(chain_run, sasl_broker):
    password = sasl_broker.credentials.password
    assert chain_run.log_lines, "the run logged nothing: the check would prove nothing"
    assert any(line.startswith("DEBUG kafka") for line in chain_run.log_lines)
    assert any(line.startswith("DEBUG py4j") for line in chain_run.log_lines)
    assert [line for line in chain_run.log_lines if password in line] == []
    # kafka-python's admin client logs its configuration at DEBUG: the password was
    # there, and was masked (so this check looked at lines that held it).
    assert any(
        "Starting KafkaAdminClient" in line and "***" in line for line in chain_run.log_lines
    )
    # CSV, Parquet, checkpoints (offsets, metadata, state) and the metrics file.
    assert _files_containing(chain_run.out, password) == []
    assert password not in sasl_broker.log_file.read_text(errors="replace")


def test_velib_stream_reads_the_sasl_topic(chain_run, sasl_broker, tmp_path):
    # The bug of issue 11: `velib stream` passed no security option to Spark.
    password = sasl_broker.credentials.password
    topic = chain_run.topic
    env = _client_env(sasl_broker)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "stream", "--topic", topic,
         "--polls-topic", f"{topic}-polls", "--alerts-topic", f"{topic}-cli-alerts",
         "--out", str(tmp_path / "processed")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"records_in={chain_run.summary.ingest.emitted} " in done.stdout
    alerts = chain_run.summary.stream["rows"]["alerts"]
    assert f"alerts_published={alerts} " in done.stdout
    assert password not in done.stdout + done.stderr
    assert _files_containing(tmp_path, password) == []


# --- wrong password --------------------------------------------------------------


@pytest.fixture
def wrong_env(sasl_broker, monkeypatch) -> dict[str, str]:
    env = _client_env(sasl_broker, KAFKA_SASL_PLAIN_PASSWORD=WRONG)
    _use_env(monkeypatch, {k: v for k, v in env.items() if k.startswith("KAFKA_")})
    return env


def test_a_wrong_password_stops_each_stage_at_once(wrong_env, spark, tmp_path):
    bootstrap = wrong_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"sasl-wrong-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(KafkaAuthError, match="refused the login of 'velib'") as ingest_err:
        ingest(read_recorded(HISTORY), IngestSettings.build({
            "bootstrap_servers": bootstrap, "topic": topic,
            "dead_letter_topic": f"{topic}-dlq", "polls_topic": f"{topic}-polls",
        }), progress=False)  # fmt: skip
    with pytest.raises(KafkaAuthError, match="invalid credentials") as capture_err:
        capture(
            CaptureSettings.build(
                {
                    "bootstrap_servers": bootstrap,
                    "topic": topic,
                    "out": tmp_path / "csv",
                    "group": "sasl-capture",
                    "until_idle_s": 3,
                }
            )
        )
    assert time.monotonic() - started < 10, "a refused login must not wait for a timeout"
    # Spark's own Java client, given the options rendered from KAFKA_*, is refused too.
    with pytest.raises(Exception) as stream_err:  # noqa: B017 - Spark's StreamingQueryException
        settings = {"bootstrap_servers": bootstrap, "topic": topic, "out": str(tmp_path / "out")}
        run_stream(spark, StreamSettings.build({**settings, "alerts_topic": f"{topic}-alerts"}))
    reason = auth_failure(stream_err.value)
    assert reason is not None and "invalid credentials" in reason
    for err in (ingest_err, capture_err):
        assert "\n" not in str(err.value) and WRONG not in str(err.value)
    assert not (tmp_path / "csv").exists() or not any((tmp_path / "csv").glob("date=*"))


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "--source", "replay", str(HISTORY)],
        ["capture", "--until-idle", "3"],
        ["stream"],
    ],
    ids=["ingest", "capture", "stream"],
)
def test_a_wrong_password_is_one_line_on_the_command_line(args, wrong_env, tmp_path):
    topic = f"sasl-cli-{uuid.uuid4().hex[:8]}"
    out = ["--out", str(tmp_path / "out")] if args[0] != "ingest" else []
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--topic", topic, *out],
        cwd=ROOT, env=wrong_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"velib {args[0]}: Kafka at {wrong_env['KAFKA_BOOTSTRAP_SERVERS']}")
    assert "refused the login of 'velib' (SCRAM-SHA-512)" in lines[0]
    assert WRONG not in done.stdout + done.stderr


# --- velib broker --sasl ---------------------------------------------------------


def test_velib_broker_sasl_prints_names_and_a_private_file(tmp_path, java, monkeypatch):
    data = tmp_path / "broker"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "broker", "--sasl", "--port", "0",
         "--data-dir", str(data)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "no 'ready:' line within 120 s"
        first = proc.stdout.readline()
        assert first.startswith("ready: 127.0.0.1:"), first
        env_file = data / "client.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        env = read_client_env(env_file)
        password = env["KAFKA_SASL_PLAIN_PASSWORD"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == first.split()[1]
        cmdlines = [" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(True)]
        assert cmdlines and all(password not in c for c in cmdlines)
        _use_env(monkeypatch, env)
        clients.check_login(env["KAFKA_BOOTSTRAP_SERVERS"])  # the file's login works
        monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD", WRONG)
        with pytest.raises(KafkaAuthError):
            clients.check_login(env["KAFKA_BOOTSTRAP_SERVERS"])
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout == ""  # nothing but the ready line
    for name in env:
        assert name in stderr
    assert f". {env_file}" in stderr
    assert password not in first + stdout + stderr
