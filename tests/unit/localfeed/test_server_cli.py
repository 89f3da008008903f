"""`velib feed serve`: ready lines, real clients against the process, clean stops, bad arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.sources.feeds import GbfsFeed, OpenDataFeed, http_session
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
HISTORY = ROOT / "tests/fixtures/history"


def start(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """Run `velib feed serve` and read its three ready lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "feed", "serve", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    assert lines[0].startswith("ready: http://127.0.0.1:"), lines
    env = dict(line.split("=", 1) for line in lines[1:])
    return proc, env


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_the_urls_answers_the_real_clients_and_stops_cleanly(tmp_path, sig):
    ledger = tmp_path / "ledger.jsonl"
    proc, env = start(str(HISTORY), "--speed", "0", "--ledger", str(ledger))
    try:
        session = http_session(retries=1, backoff_s=0)
        gbfs = GbfsFeed(env["VELIB_GBFS_BASE_URL"], session=session).poll()
        records = OpenDataFeed(env["VELIB_OPENDATA_URL"], session=session).poll()
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    first = next(read_recorded(HISTORY))
    assert proc.returncode == 0 and "Traceback" not in err
    assert "feed stopped: 4 requests, 0 fault events [], snapshots reached 1 of 6" in err
    assert gbfs.observed_at == first.observed_at and len(gbfs.records) == 25
    assert {r.station_code for r in records.records} == {r.station_code for r in first.records}
    assert [json.loads(line)["feed"] for line in ledger.read_text().splitlines()] == [
        "discovery",
        "station_information",
        "station_status",
        "records",
    ]


def test_serve_with_faults_answers_them_on_the_wire():
    proc, env = start(str(HISTORY), "--speed", "0", "--faults", "each:html", "--seed", "3")
    try:
        session = http_session(retries=0, backoff_s=0)
        feed = GbfsFeed(env["VELIB_GBFS_BASE_URL"], session=session)
        snap = feed.poll()  # requests 1-3: the html fault is scheduled on request 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert snap.records == [] and "HTML page" in snap.rejects[0].reason


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no/such/recording"], "velib feed: no such recording: "),
        (["README.md"], "velib feed: no GBFS snapshot or open-data history file under "),
        ([str(HISTORY), "--speed", "-1"], "velib feed: --speed: must be >= 0"),
        ([str(HISTORY), "--speed", "inf"], "velib feed: --speed: must be a finite number"),
        ([str(HISTORY), "--port", "70000"], "velib feed: --port: must be between 0 and 65535"),
        ([str(HISTORY), "--port", "http"], "velib feed: --port: must be a whole number"),
        ([str(HISTORY), "--faults", "teapot"], "velib feed: unknown fault 'teapot'"),
        ([str(HISTORY), "--faults", "5xx=2"], "velib feed: fault rates must be between 0 and 1"),
        (
            [str(HISTORY), "--ledger", "/no/such/dir/l.jsonl"],
            "velib feed: cannot serve the feed: /no/such/dir/l.jsonl: No such file or directory",
        ),
    ],
)
def test_bad_arguments_are_one_line_on_stderr_and_exit_2(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    assert main(["feed", "serve", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_a_busy_port_is_a_usage_error(capsys):
    proc, env = start(str(HISTORY), "--speed", "0")
    try:
        port = env["VELIB_GBFS_BASE_URL"].rsplit(":", 1)[1].split("/")[0]
        assert main(["feed", "serve", str(HISTORY), "--port", port]) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    err = capsys.readouterr().err.strip()
    assert err.startswith("velib feed: ") and "Address already in use" in err and "\n" not in err


def test_a_missing_verb_is_an_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["feed"])
    assert exc.value.code == 2
    assert "required: VERB" in capsys.readouterr().err
