"""`dvc repro` on a fresh copy of the repository succeeds, and a second run does nothing.

The copy holds what a clone would (git-tracked and untracked-not-ignored files of
the working tree), committed into a new git repository. The test replaces the raw
history with five real files so that the whole chain (broker, ingest, capture,
Spark, every notebook, the forecast) stays quick; the notebooks on the session's
larger real stream output are run by test_notebooks.py.

Byte reproducibility: the full-chain test commits the first copy's dvc.lock and
metrics, then runs the whole pipeline again in a ``git clone`` of that commit
(nothing of the first run but what git holds). Every DVC output must hash the
same and ``git status --porcelain`` must stay empty. The recording is smaller
than params.yaml's, so the reference is the dvc.lock the test's first copy
produced, not the repository's committed one (that one is checked by the lead's
``make repro`` on a fresh clone).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
METRICS = [
    "availability.json",
    "occupancy_heatmap.json",
    "station_map.json",
    "hotspots.json",
    "data_quality.json",
    "observation.json",
    "episodes.json",
    "episodes_by_hour.json",
    "forecast.json",
    "compare.json",
]
RESEARCH_METRICS = [m for m in METRICS if m != "compare.json"]
# the stages that run a notebook (01-06 and 07's forecast_figures), counted from dvc.yaml
NOTEBOOK_STAGES = sum(
    "run_notebook.py" in stage["cmd"]
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"].values()
)
# Lines that read like a fault on a normal run (issue 21, item 10).
NOISE = (
    "resolves to a loopback address",  # Spark: host name lookup
    "NotCoordinator",  # kafka-python: a group joining while the coordinator loads
    "Marking the coordinator dead",
    "blocking the event loop",  # kafka-python: slow-task notice
    "KeyboardInterrupt",  # ipykernel: SIGINT before shutdown
    "project.license",  # setuptools: licence table deprecated
    "\x1b[",  # ANSI codes
)


def assert_quiet(output: str) -> None:
    """No fault-like line, and papermill's "Input Notebook" once per notebook stage."""
    assert not [n for n in NOISE if n in output], [n for n in NOISE if n in output]
    assert output.count("Input Notebook") == NOTEBOOK_STAGES, output.count("Input Notebook")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "VELIB_JARS_DIR": str(ROOT / "jvm" / "lib"),  # the jar cache of `make jars`
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }


def sh(cwd: Path, *cmd: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(cmd), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def fresh_clone(dest: Path) -> Path:
    """The working tree as a clone would see it, in a new git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        assert sh(dest, *cmd).returncode == 0
    return dest


def small_forecast(clone: Path) -> None:
    """A small forecast model (one held-out day, 5 trees), committed as params.yaml."""
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["forecast"].update({"rolling_days": 1, "trees": 5, "train_rows": 3000, "threads": 1})
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    assert sh(clone, "git", "commit", "-qam", "a small forecast model").returncode == 0


def dvc(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(clone, str(BIN / "dvc"), *args, timeout=1200)


def _kafka_ready() -> None:
    from pipeline.kafka.broker import BrokerError, java_executable

    try:
        java_executable()
    except BrokerError as exc:
        if os.getenv("REQUIRE_KAFKA") == "1":
            pytest.fail(f"REQUIRE_KAFKA=1 but {exc}", pytrace=False)
        pytest.skip(str(exc))
    if not (ROOT / "pipeline" / "run.py").exists():
        pytest.skip("pipeline/run.py (velib run) is not there yet")


@pytest.mark.timeout(1800)  # two whole pipelines (broker, Spark, notebooks) on 2 cores
def test_full_chain_repro_on_a_tiny_raw_slice(tmp_path):
    _kafka_ready()
    clone = tmp_path / "clone"
    clone.mkdir()
    fresh_clone(clone)
    params = yaml.safe_load((clone / "params.yaml").read_text(encoding="utf-8"))
    history = clone / params["base"]["recording"]  # the recording the stream stage replays
    keep = {  # two on Thursday, three on Saturday morning: a held-out day to forecast
        "velib-opendata-2022-05-12T172037Z.csv.gz",
        "velib-opendata-2022-05-12T174444Z.csv.gz",
        "velib-opendata-2022-05-14T084205Z.csv.gz",
        "velib-opendata-2022-05-14T093737Z.csv.gz",
        "velib-opendata-2022-05-14T104125Z.csv.gz",
    }
    for path in history.iterdir():
        if path.name not in keep:
            path.unlink()
    assert sh(clone, "git", "commit", "-qam", "tiny raw slice").returncode == 0
    small_forecast(clone)
    first = dvc(clone, "repro")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert_quiet(first.stdout + first.stderr)  # velib run (broker, Spark) and the notebooks
    stream = json.loads((clone / "reports/metrics/stream.json").read_text())
    assert stream  # records in/out, stations, span: written by velib run
    assert_research_outputs(clone, tmp_path)
    second = dvc(clone, "repro")
    assert second.returncode == 0
    assert "Running stage" not in second.stdout, second.stdout
    status = dvc(clone, "status")
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert_outputs_hold_no_working_state(clone)
    assert_a_second_clone_reproduces_the_same_bytes(clone, tmp_path / "clone2")
    assert dvc(clone, "metrics", "show").returncode == 0
    plots = dvc(clone, "plots", "show", "--json")
    assert plots.returncode == 0, plots.stderr[-2000:]
    shown = json.loads(plots.stdout)
    assert_plots_fit(shown)
    page = dvc(clone, "plots", "show", "-o", str(tmp_path / "plots"))
    assert page.returncode == 0, page.stderr[-2000:]
    html = (tmp_path / "plots" / "index.html").read_text()
    assert html.count("<img") >= 10, "the PNG figures are image plots, shown offline"
    # DVC sorts image plots by path: reports/compare/ came first, and the default compare
    # (Tuesday morning vs Saturday morning) is not like with like, so it draws no figure.
    images = re.findall(r'<img src="static/([^"]+)"', html)
    assert images and not [i for i in images if "compare" in i], images
    assert "cdn.jsdelivr.net" not in html and "vegaEmbed" in html, "Vega is inlined"
    assert_charts_drawn(tmp_path / "plots" / "index.html", set(shown["data"]))


def assert_research_outputs(clone: Path, tmp_path: Path) -> None:
    """Every metric file flat and readable, the main figures and model, the default compare."""
    for name in METRICS:
        assert json.loads((clone / "reports" / "metrics" / name).read_text())
    for name in RESEARCH_METRICS:  # `dvc metrics show` stays readable: a few flat keys each
        data = json.loads((clone / "reports" / "metrics" / name).read_text())
        assert len(data) <= 8, (name, sorted(data))
        assert all(not isinstance(v, dict | list) for v in data.values()), name
    assert (clone / "reports/figures/02-occupancy-heatmap/occupancy_heatmap.png").exists()
    assert (clone / "reports/figures/06-empty-full-episodes/episode_durations.png").exists()
    assert (clone / "reports/figures/07-forecast/reliability.png").exists()
    assert (clone / "models/forecast.zip").is_file()
    compare = json.loads((clone / "reports/metrics/compare.json").read_text())
    counts = ("stations_added", "stations_removed", "stations_renumbered")
    assert tuple(compare[k] for k in counts) == (38, 28, 11)
    assert compare["like_with_like"] is False  # Tuesday morning vs Saturday morning:
    assert not (clone / "reports/compare/areas.png").exists()  # no availability figure
    assert (compare["a_utc"], compare["b_utc"]) == ("2024-11-19T08:22:18Z", "2025-10-18T09:09:16Z")
    # The same comparison read at a git revision through dvc.api.
    at_rev = sh(
        clone,
        sys.executable,
        "-m",
        "pipeline.cli",
        "compare",
        "data/raw/gbfs/2024-11-19",
        "data/raw/gbfs/2025-10-18",
        "--rev-a",
        "HEAD",
        "--rev-b",
        "HEAD",
        "--out",
        str(tmp_path / "rev-report"),
    )
    assert at_rev.returncode == 0, at_rev.stderr[-2000:]
    assert "added=38 removed=28 renumbered=11" in at_rev.stdout


def output_hashes(clone: Path) -> dict[str, str]:
    """Every stage output of dvc.lock (tables, figures, metrics, plot CSV) -> its md5."""
    lock = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}


def assert_outputs_hold_no_working_state(clone: Path) -> None:
    """No checkpoint, offsets file or Spark file name in the DVC outputs; they are in data/run."""
    names = {
        p.name for out in ("data/processed", "data/interim/csv") for p in (clone / out).rglob("*")
    }
    assert not {"_checkpoints", "_offsets", "_staging"} & names, sorted(names)
    files = {p.name for p in (clone / "data/processed").rglob("*") if p.is_file()}
    assert files == {"part-0.parquet"}, files  # one fixed name per date, nothing else
    assert (clone / "data/run/stream/_checkpoints").is_dir()
    assert any((clone / "data/run/capture_offsets").glob("partition-*.json"))


def assert_a_second_clone_reproduces_the_same_bytes(first: Path, second: Path) -> None:
    """A git clone of the first copy's results reproduces every output byte for byte."""
    assert sh(first, "git", "add", "-A").returncode == 0
    assert sh(first, "git", "commit", "-qm", "dvc.lock and metrics").returncode == 0
    assert sh(first, "git", "status", "--porcelain").stdout == ""
    cloned = sh(first.parent, "git", "clone", "-q", str(first), str(second))
    assert cloned.returncode == 0, cloned.stderr
    assert not (second / "data" / "processed").exists()  # nothing but what git holds
    run = dvc(second, "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Running stage 'stream'" in run.stdout
    hashes, expected = output_hashes(second), output_hashes(first)
    changed = {p: (expected.get(p), h) for p, h in hashes.items() if expected.get(p) != h}
    assert not changed and hashes.keys() == expected.keys(), changed
    status = sh(second, "git", "status", "--porcelain")
    assert status.stdout == "", status.stdout + sh(second, "git", "diff").stdout[-3000:]


def assert_charts_drawn(page: Path, names: set[str]) -> None:
    """A real browser, offline, draws every Vega chart of the page (headless Chromium)."""
    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        print("plots page not checked in a browser: no chromium or google-chrome on PATH")
        return
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    for name in ("bikes_per_station", "stations_known", "occupancy_by_hour", "episodes_by_hour"):
        assert name in names
        start = dom.index(f'<div id="{name}"')
        end = dom.find('<div id="', start + 10)
        chart = dom[start : end if end > 0 else None]
        assert "<canvas" in chart or "<svg" in chart, f"{name}: the browser drew nothing"


def assert_plots_fit(shown: dict) -> None:
    """Every chart `dvc plots show` draws has data, a colour per series and a time x axis."""
    plots = shown["data"]
    vega = {k: v[0] for k, v in plots.items() if v and v[0]["type"] == "vega"}
    images = {k: v for k, v in plots.items() if v and v[0]["type"] == "image"}
    assert set(vega) == {
        "bikes_per_station",
        "stations_known",
        "occupancy_by_hour",
        "episodes_by_hour",
    }, sorted(plots)
    assert len(images) >= 10
    for name, plot in vega.items():
        spec = plot["content"]
        view = spec.get("spec", spec)
        assert view["encoding"]["color"]["field"] == "field", name  # series, not revision
        x = view["encoding"]["x"]
        assert "Europe/Paris" in x["title"], name
        if name in ("bikes_per_station", "stations_known"):
            assert x["type"] == "temporal" and x["scale"]["type"] == "utc", name
        values = spec["data"]["values"]
        column = "local_time" if x["type"] == "temporal" else "hour"
        assert values and all(row.get(column) not in (None, "") for row in values), name
    assert vega["episodes_by_hour"]["content"]["spec"]["mark"]["type"] == "bar"
    series = {row["field"] for row in vega["occupancy_by_hour"]["content"]["data"]["values"]}
    assert series == {"weekday_occupancy", "weekend_occupancy"}
