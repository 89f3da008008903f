"""The short soak (issue 12): ``velib run --live`` against the misbehaving local feed.

About three minutes: the bundled 2-day recording at speed 3600 with one fault of
each kind, ingest, capture, the Spark driver and the broker each killed with
SIGKILL in turn, then SIGTERM. ``soak.checks`` holds the topic against the
archive, the CSV and ``status/`` against the topic, and the logs for crashes;
this test asserts its verdict and that it saw what it claims to have survived.
``make soak`` is the long run (5 minutes, report in the README).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.localfeed.faults import FAULT_KINDS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent.parent


def test_short_soak_loses_nothing_repeats_nothing_and_leaves_nothing_running(java, tmp_path):
    out = tmp_path / "soak.json"
    argv = [
        sys.executable, "-m", "soak", "--duration", "100", "--speed", "3600",
        "--interval", "0.5", "--out", str(out), "--keep", str(tmp_path / "live"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.exists(), done.stderr[-3000:]
    report = json.loads(out.read_text())
    print(done.stdout)
    assert report["ok"], done.stdout
    assert done.returncode == 0
    assert set(report["fault_events"]) == set(FAULT_KINDS), "a fault kind was never served"
    assert [k["stage"] for k in report["kills"]] == ["ingest", "capture", "stream", "broker"]
    assert report["crashes"] == {"ingest": 1, "capture": 1, "stream": 1}
    assert report["topic_records"] == report["archive_changes"] > 10_000
    assert report["csv_equals_topic"] and report["status_equals_topic"]
    assert report["dead_letters"] >= report["expected_dead_letters"] >= 3
    assert report["left_running"] == [] and report["exit_code"] == 0
