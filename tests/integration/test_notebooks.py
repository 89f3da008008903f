"""Every analysis notebook executes (papermill) on a tiny real fixture and writes its outputs.

The fixture is a ``status/`` Parquet table built from four real open-data files
of the bundled sample (two on Thursday 2022-05-12, two on Saturday 2022-05-14),
the layout the stream stage writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import research
from pipeline.sources import read_recorded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "data" / "raw" / "opendata-history"
FILES = (
    "velib-opendata-2022-05-12T174444Z.csv.gz",
    "velib-opendata-2022-05-12T184647Z.csv.gz",
    "velib-opendata-2022-05-14T084205Z.csv.gz",
    "velib-opendata-2022-05-14T093737Z.csv.gz",
)
NOTEBOOKS = {
    "01-availability-over-time": (
        ["network_bikes.png", "occupancy_per_area.png"],
        ["availability.json", "availability_network.csv"],
    ),
    "02-occupancy-heatmap": (
        ["occupancy_heatmap.png"],
        ["occupancy_heatmap.json", "occupancy_by_hour.csv"],
    ),
    "03-station-map": (["station_map.png"], ["station_map.json", "station_map.csv"]),
    "04-empty-full-hotspots": (
        ["station_hotspots.png", "arrondissement_hotspots.png"],
        ["hotspots.json", "hotspots_stations.csv"],
    ),
    "05-data-quality": (["data_quality.png"], ["data_quality.json"]),
}


def build_processed(processed: Path, files: tuple[str, ...] = FILES) -> int:
    """A status/ table (and a small _rejected/ table) from real recorded files."""
    raw = processed.parent / "raw-slice"
    raw.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(HISTORY / name, raw / name)
    records = [r for s in read_recorded(raw) for r in s.records]
    research.write_status_parquet(research.status_frame(records), processed)
    rejected = pa.table(
        {
            "raw": ['{"station_code": "16107", "bikes_available": -1}', "not json"],
            "reason": ["invalid: bikes_available < 0", "unparseable JSON"],
            "date": ["2022-05-12", "2022-05-12"],
        }
    )
    pq.write_to_dataset(rejected, processed / "_rejected", partition_cols=["date"])
    return len(records)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("nbproject")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    (root / "dvc.yaml").write_text("stages: {}\n")  # marks the project root
    n = build_processed(root / "data" / "processed")
    return root, n


def run_notebook(root: Path, name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "analysis" / "run_notebook.py"),
            str(ROOT / f"analysis/{name}.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_writes_figures_and_metrics(project, name):
    root, n_records = project
    done = run_notebook(root, name)
    assert done.returncode == 0, done.stderr[-3000:]
    figures, metrics = NOTEBOOKS[name]
    for fig in figures:
        png = root / "reports" / "figures" / name / fig
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    for met in metrics:
        assert (root / "reports" / "metrics" / met).stat().st_size > 0
    assert (root / "build" / "notebooks" / f"{name}.ipynb").exists()
    summary = json.loads((root / "reports" / "metrics" / metrics[0]).read_text())
    if "records" in summary:
        assert summary["records"] == n_records
    if name == "05-data-quality":
        assert summary["rejected_records"] == 2
        assert summary["capacity_zero_stations"] >= 1  # real: capacity 0 happens


def test_notebook_reruns_give_identical_bytes(project):
    root, _ = project
    name = "02-occupancy-heatmap"
    outputs = [
        root / "reports/figures" / name / "occupancy_heatmap.png",
        root / "reports/metrics/occupancy_heatmap.json",
    ]
    if not outputs[0].exists():
        assert run_notebook(root, name).returncode == 0
    before = [p.read_bytes() for p in outputs]
    assert run_notebook(root, name).returncode == 0
    assert [p.read_bytes() for p in outputs] == before
