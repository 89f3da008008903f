"""`dvc repro` on a fresh copy of the repository succeeds, and a second run does nothing.

The copy holds what a clone would (git-tracked and untracked-not-ignored files of
the working tree), committed into a new git repository. Every recording of
params.yaml is cut to a few real answers (``SHORT``) so that the whole chain
(broker, ingest, capture, Spark, every notebook of every recording, the side-by-side
figure, the forecast, compare) stays quick; the notebooks on the session's larger
real stream output are run by test_notebooks.py.

Byte reproducibility: the test commits the first copy's dvc.lock and metrics,
then reproduces every stage of every recording in a ``git clone`` of that commit
(nothing of the first run but what git holds). Each of their outputs must hash
the same and ``git status --porcelain`` must stay empty. The recordings are
smaller than params.yaml's, so the reference is the dvc.lock the test's first
copy produced, not the repository's committed one (that one is checked by the
lead's ``make repro`` on a fresh clone and by ``make lint``).
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

from tools import dvc_lock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

STAGES = dvc_lock.stages()
RECORDINGS = sorted({name.split("@")[1] for name in STAGES if name.startswith("stream@")})
RESEARCH_METRICS = [  # every notebook's metrics file, per recording
    m
    for name, stage in STAGES.items()
    if "run_notebook.py" in stage["cmd"]
    for m in dvc_lock.paths(stage.get("metrics", []))
]
METRICS = [m for stage in STAGES.values() for m in dvc_lock.paths(stage.get("metrics", []))]


KINDS = ("bikes_per_station", "stations_known", "occupancy_by_hour", "episodes_by_hour")


def notebook_stages(names: list[str]) -> int:
    """How many of these stages run a notebook (papermill's "Input Notebook" once each)."""
    return sum("run_notebook.py" in STAGES[n]["cmd"] for n in names)


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


def assert_quiet(output: str, stages: list[str]) -> None:
    """No fault-like line, and papermill's "Input Notebook" once per notebook stage run."""
    assert not [n for n in NOISE if n in output], [n for n in NOISE if n in output]
    assert output.count("Input Notebook") == notebook_stages(stages), output.count("Input Notebook")


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
    for recording in params["recordings"].values():
        recording["forecast_rolling_days"] = 1
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    assert sh(clone, "git", "commit", "-qam", "a small forecast model").returncode == 0


def dvc(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(clone, str(BIN / "dvc"), *args, timeout=2400)


def assert_metrics_flat(clone: Path, names: list[str]) -> None:
    """Every metrics file written; `dvc metrics show` stays readable: a few flat keys each."""
    for name in names:
        data = json.loads((clone / name).read_text())
        assert data, name
        if name in RESEARCH_METRICS:
            assert len(data) <= 8, (name, sorted(data))
            assert all(not isinstance(v, dict | list) for v in data.values()), name


def assert_research_outputs(clone: Path, tmp_path: Path) -> None:
    """Every metric file flat and readable, each recording's figures, the model, compare."""
    assert_metrics_flat(clone, METRICS)
    for recording in RECORDINGS:
        figures = clone / "reports" / "figures" / recording
        assert (figures / "02-occupancy-heatmap/occupancy_heatmap.png").exists()
        assert (figures / "06-empty-full-episodes/episode_durations.png").exists()
    for recording in RECORDINGS:
        assert (clone / f"reports/figures/{recording}/07-forecast/reliability.png").exists()
        assert (clone / f"models/{recording}/forecast.zip").is_file()
        serving = json.loads((clone / f"models/{recording}/forecast_serving.json").read_text())
        assert serving, recording
    assert (clone / "reports/figures/08-resolution/resolution.png").exists()
    views = {row.split(",")[0] for row in (clone / "reports/metrics/resolution.csv").read_text()
             .splitlines()[1:]}  # fmt: skip
    assert set(RECORDINGS) <= views, views  # every recording side by side
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


@pytest.mark.timeout(3600)  # a whole pipeline twice; 2 cores, 25 jobs: 20+ min
def test_full_chain_repro_on_a_tiny_raw_slice(tmp_path):
    _kafka_ready()
    clone = tmp_path / "clone"
    clone.mkdir()
    fresh_clone(clone)
    short_recordings(clone)
    small_forecast(clone)
    first = dvc(clone, "repro")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert_quiet(first.stdout + first.stderr, list(STAGES))  # velib run and the notebooks
    for recording in RECORDINGS:
        stream = json.loads((clone / f"reports/metrics/{recording}/stream.json").read_text())
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


# A couple of days of each recording, a few answers each, so that the whole chain runs within
# minutes: the same stages, code and parameters as the full recordings.
SHORT = {
    "may2022-hourly": (  # two on Thursday, three on Saturday morning: a held-out day to forecast
        "2022-05-12..2022-05-14",
        {
            "velib-opendata-2022-05-12T172037Z.csv.gz",
            "velib-opendata-2022-05-12T174444Z.csv.gz",
            "velib-opendata-2022-05-14T084205Z.csv.gz",
            "velib-opendata-2022-05-14T093737Z.csv.gz",
            "velib-opendata-2022-05-14T104125Z.csv.gz",
        },
    ),
    "nov2024-5min": (  # Monday 4 Nov 16:25-17:10 and Tuesday 5 Nov 08:55-09:30, Paris time
        "2024-11-04..2024-11-05",
        {
            *(
                f"velib_data_20241104_{t}.json.gz"
                for t in (
                    "162501",
                    "163001",
                    "163502",
                    "164502",
                    "165001",
                    "165502",
                    "170001",
                    "170501",
                    "171001",
                )
            ),
            *(
                f"velib_data_20241105_{t}.json.gz"
                for t in (
                    "085501",
                    "090001",
                    "090501",
                    "091001",
                    "091501",
                    "092001",
                    "092501",
                    "093001",
                )
            ),
        },  # fmt: skip
    ),
}


def short_recordings(clone: Path) -> None:
    """Each recording of the clone cut to SHORT (its dates, a few answers), committed."""
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(params["recordings"]) == set(SHORT) == set(RECORDINGS)
    for name, (dates, keep) in SHORT.items():
        params["recordings"][name]["dates"] = dates
        folder = clone / params["recordings"][name]["path"]
        answers = {p.name for p in folder.iterdir() if p.name.endswith(".gz")}
        assert keep <= answers, keep - answers
        for gone in answers - keep:
            (folder / gone).unlink()
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    assert sh(clone, "git", "commit", "-qam", "short recordings").returncode == 0


def output_hashes(clone: Path) -> dict[str, str]:
    """Every stage output of dvc.lock (tables, figures, metrics, plot CSV) -> its md5."""
    lock = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}


def assert_outputs_hold_no_working_state(clone: Path) -> None:
    """No checkpoint, offsets file or Spark file name in the DVC outputs; they are in data/run."""
    for name in RECORDINGS:
        processed, csv = clone / "data/processed" / name, clone / "data/interim" / name / "csv"
        names = {p.name for out in (processed, csv) for p in out.rglob("*")}
        assert not {"_checkpoints", "_offsets", "_staging"} & names, sorted(names)
        files = {p.name for p in processed.rglob("*") if p.is_file()}
        assert files == {"part-0.parquet"}, files  # one fixed name per date, nothing else
        assert (clone / "data/run" / name / "stream/_checkpoints").is_dir()
        assert any((clone / "data/run" / name / "capture_offsets").glob("partition-*.json"))


def assert_a_second_clone_reproduces_the_same_bytes(first: Path, second: Path) -> None:
    """A git clone of the first copy's results reproduces every output byte for byte.

    Only what git holds reaches the clone (no table, no figure, no model), so every
    stage of every recording runs, from its raw answers; their outputs must hash as
    the first copy's (dvc.lock), and the metrics and plot data kept in git must not
    change.
    """
    assert sh(first, "git", "add", "-A").returncode == 0
    assert sh(first, "git", "commit", "-qm", "dvc.lock and metrics").returncode == 0
    assert sh(first, "git", "status", "--porcelain").stdout == ""
    cloned = sh(first.parent, "git", "clone", "-q", str(first), str(second))
    assert cloned.returncode == 0, cloned.stderr
    assert not (second / "data" / "processed").exists()  # nothing but what git holds
    targets = list(STAGES)
    run = dvc(second, "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert all(f"Running stage '{t}'" in run.stdout for t in targets), run.stdout[-4000:]
    declared = [out for t in targets for out in STAGES[t]["outs"] + STAGES[t].get("metrics", [])]
    ran = set(dvc_lock.paths(declared))
    hashes, expected = output_hashes(second), output_hashes(first)
    assert ran <= hashes.keys(), ran - hashes.keys()
    changed = {p: (expected.get(p), hashes[p]) for p in ran if expected.get(p) != hashes[p]}
    assert not changed, changed
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
    for name in (f"{r}/{kind}" for r in RECORDINGS for kind in KINDS):
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
    assert set(vega) == {f"{r}/{kind}" for r in RECORDINGS for kind in KINDS}, sorted(plots)
    assert len(images) >= 10 * len(RECORDINGS)
    for name, plot in vega.items():
        kind = name.split("/", 1)[1]
        spec = plot["content"]
        view = spec.get("spec", spec)
        assert view["encoding"]["color"]["field"] == "field", name  # series, not revision
        x = view["encoding"]["x"]
        assert "Europe/Paris" in x["title"], name
        if kind in ("bikes_per_station", "stations_known"):
            assert x["type"] == "temporal" and x["scale"]["type"] == "utc", name
        values = spec["data"]["values"]
        column = "local_time" if x["type"] == "temporal" else "hour"
        assert values and all(row.get(column) not in (None, "") for row in values), name
    for r in RECORDINGS:
        assert vega[f"{r}/episodes_by_hour"]["content"]["spec"]["mark"]["type"] == "bar"
        rows = vega[f"{r}/occupancy_by_hour"]["content"]["data"]["values"]
        assert {row["field"] for row in rows} <= {"weekday_occupancy", "weekend_occupancy"}
