"""`make bench` at a tiny size: every stage runs, beside its ceiling, and the report reads.

Not a timing test: the sizes are far too small to say anything about speed. It
proves the benchmark still runs the project's real stages (ingest, capture,
the Spark job) on a real broker after a change, and that its report is whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The smallest sizes that still run every row: two polls (the first pays the warm-up, the
# median and p95 are over the rest) and one one-record batch (the fixed cost) per recording.
POLLS, SINGLES = 2, 1


@pytest.mark.timeout(1200)  # every bench stage, each with its own broker or Spark
def test_bench_runs_every_stage_at_a_tiny_size(java, tmp_path):
    out = tmp_path / "bench.json"
    argv = [
        sys.executable, "-m", "bench",
        "--only", "live,ingest,capture,stream",
        "--records", "3000", "--stream-records", "3000", "--stream-records-large", "0",
        "--runs", "1", "--stream-runs", "1",
        "--live-polls", str(POLLS), "--live-singles", str(SINGLES),
        "--history", str(ROOT / "data" / "raw" / "opendata-history"),
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["sizes"]["stages"] == ["live", "ingest", "capture", "stream"]
    figures = doc["figures"]
    assert {"live", "ingest", "capture", "stream"} <= figures.keys()
    for live in figures["live"].values():  # each recording's polls, one batch each
        assert len(live["batch_s"]) >= POLLS and len(live["single_record_batch_s"]) == SINGLES
        assert live["records_per_poll"] > 0 and live["fixed_s"] > 0
    assert figures["ingest"]["ingest"]["emitted_per_s"] > 0
    assert figures["capture"]["capture"]["records_per_s"] > 0
    # the terminal table: a header, then each stage beside its ceiling with a ratio
    table = done.stdout.split("stages:", 1)[1]
    assert "records/s (median)" in table and "ceiling records/s" in table
    rows = {line.split()[0] for line in table.splitlines() if line[:1].isalpha()}
    assert {"live", "ingest", "capture", "stream"} <= rows, table
