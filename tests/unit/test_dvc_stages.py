"""Every DVC stage depends on exactly the ``pipeline`` code its command executes.

Depending on too little lets a stale output pass as up to date (a change to the
record would not re-run the notebooks); depending on all of pipeline/ re-runs
Kafka and Spark whenever a notebook helper changes. The code a stage runs is
the import graph (every import statement, at any depth, lazy ones included)
from the modules its command starts in:

* ``python -m pipeline.cli VERB [VERB]``: the command line's own module-level
  imports and those of the handler of that command (handlers import their stage
  lazily; a branch a handler hands to another function, ``velib run --live``, is
  not what the stage runs);
* ``python analysis/run_notebook.py NOTEBOOK``: the runner's imports and the
  notebook's.

A dependency is a whole stage package (``pipeline/stream``) or a top-level module
(``pipeline/record.py``), so a stage lists a handful of folders, not thirty files.
"""

from __future__ import annotations

import ast
import inspect
import shlex
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline import cli
from pipeline.settings import recordings
from pipeline.settings.run import RunSettings
from tools import dvc_lock

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"
STAGES = dvc_lock.stages()
RECORDINGS = recordings.recordings()


def module_file(dotted: str) -> Path | None:
    """The file of a ``pipeline`` module (a package's ``__init__.py``), or None."""
    path = ROOT.joinpath(*dotted.split("."))
    if path.is_dir():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def imports_in(tree: ast.AST, top_level_only: bool = False) -> set[str]:
    """The ``pipeline`` modules a syntax tree imports (all statements, or module level only)."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))  # type: ignore[attr-defined]
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            names.add(node.module)
            # ``from pipeline.stream import job``: job is a module of its own
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("pipeline.")}
    return {n for n in names if module_file(n) is not None}


def imported(path: Path, top_level_only: bool = False) -> set[str]:
    return imports_in(ast.parse(path.read_text(encoding="utf-8")), top_level_only)


def closure(start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imported(module_file(name)) - seen)  # type: ignore[arg-type]
    return seen


def unit(dotted: str) -> str:
    """What a stage depends on for a module: its stage package, or the top-level file."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "pipeline/__init__.py"
    if (PACKAGE / parts[1]).is_dir():
        return f"pipeline/{parts[1]}"
    return f"pipeline/{parts[1]}.py"


def handler_imports(words: list[str]) -> set[str]:
    """The lazy imports of the ``velib`` handler that ``words`` (``forecast train``) runs."""
    table = cli.FORECAST if words[0] == "forecast" else cli.COMMANDS
    handler = table[words[1] if words[0] == "forecast" else words[0]][1]
    return imports_in(ast.parse(textwrap.dedent(inspect.getsource(handler))))


def entry_modules(cmd: str) -> tuple[set[str], set[str]]:
    """(``pipeline`` modules, other files) each command of a stage's ``cmd`` starts in.

    ``pipeline/cli.py`` itself is among the files: following all of its imports would
    reach every handler's stage, not only the one the command runs.
    """
    modules: set[str] = set()
    files: set[str] = set()
    for part in cmd.split("&&"):
        words = shlex.split(part)
        assert words[0] == "python", f"a stage command runs the project's python: {part!r}"
        if words[1:3] == ["-m", "pipeline.cli"]:
            modules |= imported(PACKAGE / "cli.py", top_level_only=True)
            modules |= handler_imports(words[3:])
            files.add("pipeline/cli.py")
        elif words[1] == "analysis/run_notebook.py":
            files |= {words[1], words[2]}
            modules |= imported(ROOT / words[1]) | imported(ROOT / words[2])
        else:
            raise AssertionError(f"unknown entry point in {part!r}: teach this test its imports")
    return modules, files


def needed(cmd: str) -> tuple[set[str], set[str]]:
    """The ``pipeline/`` dependencies a command needs, and the other files it runs."""
    modules, files = entry_modules(cmd)
    units = {unit(name) for name in closure(modules)} | {
        f for f in files if f.startswith("pipeline")
    }
    return units | ({"pipeline/__init__.py"} if units else set()), files - units


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_depends_on_the_code_its_command_executes(name):
    stage = STAGES[name]
    deps = {str(d) for d in stage["deps"]}
    code = {d for d in deps if d.startswith("pipeline")}
    runs, files = needed(stage["cmd"])
    assert runs - code == set(), f"{name} misses {sorted(runs - code)}"
    assert code - runs == set(), f"{name} needlessly depends on {sorted(code - runs)}"
    assert files - deps == set(), f"{name} misses {sorted(files - deps)}"
    inside = [d for d in code if d.count("/") > 1]
    assert inside == [], f"depend on the stage package, not on its files: {inside}"


def test_every_recording_is_built_by_every_per_recording_stage():
    kinds = {name.split("@")[0] for name in STAGES if "@" in name}
    assert {"stream", "availability", "episodes"} <= kinds
    for kind in kinds:
        assert {n.split("@")[1] for n in STAGES if n.startswith(f"{kind}@")} == set(RECORDINGS)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_a_recording_s_stages_write_under_its_name(name):
    """The stream stage's outputs are where velib run writes that recording; notebooks' too."""
    recording = RECORDINGS[name]
    stream = STAGES[f"stream@{name}"]
    run = RunSettings.build({"recording": name})
    written = {run.csv_out, run.out, run.metrics, run.metrics.with_name("stream_details.json")}
    declared = dvc_lock.paths(stream["outs"]) + dvc_lock.paths(stream["metrics"])
    assert {ROOT / p for p in declared} == written
    assert str(recording.path) in stream["deps"]
    for stage, body in STAGES.items():
        if not stage.endswith(f"@{name}") or stage.startswith("stream@"):
            continue
        if stage.startswith("forecast@"):  # velib forecast takes the recording's folders
            for folder in (recording.processed, recording.models, recording.forecasts):
                assert f"{folder}" in body["cmd"], (stage, folder)
        else:
            assert f"--recording {name}" in body["cmd"], stage
        assert str(recording.processed) in body["deps"], stage
        folders = (recording.metrics, recording.figures, recording.models, recording.forecasts)
        for out in dvc_lock.paths(body["outs"]) + dvc_lock.paths(body.get("metrics", [])):
            assert Path(out) in folders or Path(out).parent in folders, (stage, out)


def test_every_recording_has_each_data_plot():
    plots = [next(iter(p)) for p in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
             if isinstance(p, dict)]  # fmt: skip
    kinds = {p.split("/", 1)[1] for p in plots}
    assert {f"{name}/{kind}" for name in RECORDINGS for kind in kinds} == set(plots)


def test_the_derivation_follows_lazy_imports_to_the_ground_floor():
    runs, files = needed("python analysis/run_notebook.py analysis/05-data-quality.py")
    # research reads tables through delta, and parses places with sources, which needs
    # the record; the notebook itself imports clock, vocabulary and the record
    assert {"pipeline/research", "pipeline/delta", "pipeline/sources", "pipeline/record.py"} <= runs
    assert {"pipeline/clock.py", "pipeline/settings", "pipeline/poll.py"} <= runs
    assert "pipeline/stream" not in runs and "pipeline/kafka" not in runs
    assert files == {"analysis/run_notebook.py", "analysis/05-data-quality.py"}
    run, _ = needed("python -m pipeline.cli run --out data/processed")
    assert {"pipeline/run.py", "pipeline/stream", "pipeline/capture"} <= run
    assert "pipeline/live.py" not in run  # velib run --live is another branch of the handler


def test_the_side_by_side_stage_reads_every_recording():
    """resolution (analysis/08) is no foreach: its deps must list each recording's tables."""
    deps = STAGES["resolution"]["deps"]
    assert {str(r.processed) for r in RECORDINGS.values()} <= set(deps)
    tables = [d for d in deps if d.startswith("data/processed/")]
    assert {Path(d).name for d in tables} == set(RECORDINGS)  # and no other
