"""The short soak (issues 12 and 30): ``velib run --live`` for a fifth of a simulated day.

About three minutes of live run, then the checks: the bundled two weeks served
at 96x (a recorded minute is 0.625 s, the chain polls at that interval) with
every fault kind, each stage (ingest, capture, the Spark driver, the broker)
killed with SIGKILL at a seeded random time, compaction every simulated day
(here: once, at start), samples every 5 s, then SIGTERM. ``soak.checks`` holds
the topic against the archive, the CSV and ``status/`` against the topic, the
tables against a replay of the archive, and the logs for crashes; this test
asserts its verdict, that it saw what it claims to have survived, and that the
report carries a trend and a figure for what it sampled. ``make soak DAYS=14``
is the long run (docs/live.md).
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


@pytest.mark.timeout(1200)
def test_short_soak_loses_nothing_repeats_nothing_and_reports_its_trends(java, tmp_path):
    out = tmp_path / "soak.json"
    argv = [
        sys.executable, "-m", "soak", "--days", "0.2", "--speed", "96",
        "--out", str(out), "--keep", str(tmp_path / "live"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1100)
    assert out.exists(), done.stderr[-3000:]
    report = json.loads(out.read_text())
    print(done.stdout)
    assert report["ok"], done.stdout
    assert done.returncode == 0
    assert set(report["fault_events"]) == set(FAULT_KINDS), "a fault kind was never served"
    assert sorted({k["stage"] for k in report["kills"]}) == [
        "broker",
        "capture",
        "ingest",
        "stream",
    ]
    assert all(k["recovered_after_s"] > 0 for k in report["kills"])
    killed = {s: sum(k["stage"] == s for k in report["kills"]) for s in ("ingest", "capture")}
    assert report["crashes"]["ingest"] >= killed["ingest"] and not report["ingest_errors_not_kafka"]
    assert report["crashes"]["capture"] >= killed["capture"]
    assert report["topic_records"] == report["archive_changes"] > 1400
    assert report["csv_equals_topic"] and report["status_equals_topic"]
    assert report["tables_equal_replay"] is True
    assert report["dead_letters"] >= report["expected_dead_letters"] >= 1
    assert report["left_running"] == [] and report["exit_code"] == 0
    # the time series and their trends
    samples = report["samples"]
    assert len(samples) >= 20 and samples[-1]["sim_day"] > 0.15
    assert any("rss_spark_jvm_mb" in s for s in samples)
    # micro-batches the live stream logged (none when a loaded machine keeps the Spark
    # driver starting for the whole short run; the drain's batches are not sampled)
    assert all(b["seconds"] > 0 for b in report["batch_durations"])
    for measure in ("mb_archive", "mb_kafka_log", "files_status"):
        assert measure in report["trends"], measure
    assert report["trends"]["mb_archive"]["slope_per_day"] > 0  # the archive grows with polls
    figures = out.with_suffix("")
    assert {"memory.png", "tables.png", "sizes.png"} <= {p.name for p in figures.iterdir()}
    assert "| measure | day one |" in out.with_suffix(".md").read_text()
