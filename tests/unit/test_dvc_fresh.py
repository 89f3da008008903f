"""tools/dvc_fresh.py tells a stale dvc.lock from a clone that has not built its outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tools import dvc_lock

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("dvc_fresh", ROOT / "tools" / "dvc_fresh.py")
assert spec is not None and spec.loader is not None
dvc_fresh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dvc_fresh)

OUTPUTS = dvc_fresh.produced(dvc_lock.stages())


def test_a_fresh_clone_that_built_nothing_is_not_stale():
    status = {
        "stream@nov2024-5min": [{"changed outs": {"data/processed/nov2024-5min": "not in cache"}}],
        "heatmap@nov2024-5min": [
            {"changed deps": {"data/processed/nov2024-5min": "deleted"}},
            {"changed outs": {"reports/figures/nov2024-5min/02-occupancy-heatmap": "not in cache"}},
        ],
        "resolution": [{"changed deps": {"data/processed/may2022-hourly": "deleted"}}],
    }
    assert "data/processed/nov2024-5min" in OUTPUTS  # a foreach stage's output, expanded
    assert dvc_fresh.stale(status, OUTPUTS) == []


def test_moved_code_params_or_a_committed_metric_are_stale():
    status = {
        "stream": [
            {"changed deps": {"pipeline/stream": "modified", "params.yaml": {"stream": "modified"}}}
        ],
        "availability": [{"changed outs": {"reports/metrics/availability.json": "modified"}}],
        "heatmap": [{"changed deps": {"analysis/02-occupancy-heatmap.py": "deleted"}}],
    }
    assert dvc_fresh.stale(status, OUTPUTS) == [
        "stream: dep pipeline/stream modified",
        "stream: params.yaml stream modified",
        "availability: out reports/metrics/availability.json modified",
        "heatmap: dep analysis/02-occupancy-heatmap.py deleted",
    ]
