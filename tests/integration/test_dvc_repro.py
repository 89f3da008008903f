"""`dvc repro` on a fresh copy of the repository succeeds, and a second run does nothing.

The copy holds what a clone would (git-tracked and untracked-not-ignored files of
the working tree), committed into a new git repository. The analysis test feeds
the notebooks the session's real stream output (``stream_slice``) and reproduces
every stage but ``stream``; the full-chain test replaces the raw history with
three real files so that the whole chain (broker, ingest, capture, Spark) stays
quick.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notebooks import copy_processed  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ANALYSIS_STAGES = [
    "availability",
    "heatmap",
    "station_map",
    "hotspots",
    "data_quality",
    "episodes",
    "compare",
]
METRICS = [
    "availability.json",
    "occupancy_heatmap.json",
    "station_map.json",
    "hotspots.json",
    "data_quality.json",
    "episodes.json",
    "compare.json",
]
RESEARCH_METRICS = [m for m in METRICS if m != "compare.json"]
NOTEBOOK_STAGES = 6
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


def dvc(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(clone, str(BIN / "dvc"), *args)


def test_analysis_stages_repro_then_nothing_to_do(tmp_path, stream_slice):
    clone = fresh_clone(tmp_path / "clone")
    copy_processed(stream_slice, clone / "data" / "processed")
    first = dvc(clone, "repro", "-s", *ANALYSIS_STAGES)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "without encryption" not in first.stdout + first.stderr
    assert_quiet(first.stdout + first.stderr)
    for name in METRICS:
        assert json.loads((clone / "reports" / "metrics" / name).read_text())
    for name in RESEARCH_METRICS:  # `dvc metrics show` stays readable: a few flat keys each
        data = json.loads((clone / "reports" / "metrics" / name).read_text())
        assert len(data) <= 6, (name, sorted(data))
        assert all(not isinstance(v, dict | list) for v in data.values()), name
    assert (clone / "reports/figures/02-occupancy-heatmap/occupancy_heatmap.png").exists()
    assert (clone / "reports/figures/06-empty-full-episodes/episode_durations.png").exists()
    second = dvc(clone, "repro", "-s", *ANALYSIS_STAGES)
    assert second.returncode == 0
    assert "Running stage" not in second.stdout, second.stdout
    shown = dvc(clone, "metrics", "show")
    assert shown.returncode == 0 and "availability.json" in shown.stdout
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


def test_full_chain_repro_on_a_tiny_raw_slice(tmp_path):
    _kafka_ready()
    clone = tmp_path / "clone"
    history = clone / "data" / "raw" / "opendata-history"
    clone.mkdir()
    fresh_clone(clone)
    keep = {
        "velib-opendata-2022-05-12T172037Z.csv.gz",
        "velib-opendata-2022-05-12T174444Z.csv.gz",
        "velib-opendata-2022-05-14T084205Z.csv.gz",
    }
    for path in history.iterdir():
        if path.name not in keep:
            path.unlink()
    assert sh(clone, "git", "commit", "-qam", "tiny raw slice").returncode == 0
    first = dvc(clone, "repro")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert_quiet(first.stdout + first.stderr)  # velib run (broker, Spark) and the notebooks
    stream = json.loads((clone / "reports/metrics/stream.json").read_text())
    assert stream  # records in/out, stations, span: written by velib run
    for name in METRICS:
        assert (clone / "reports" / "metrics" / name).exists()
    second = dvc(clone, "repro")
    assert second.returncode == 0
    assert "Running stage" not in second.stdout, second.stdout
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
    """Every plot `dvc plots show` draws has data and a time x axis, never the row number."""
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
        text = json.dumps(spec)
        x = "hours" if "toNumber(datum['hours'])" in text else "hour"
        assert f"toNumber(datum['{x}'])" in text and '"step"' not in text, name
        # an empty CSV cell is a gap (null), never a 0 drawn to the axis
        assert "=== '' ||" in text, name
        values = spec["data"]["values"]
        assert values and all(row.get(x) not in (None, "") for row in values), name
