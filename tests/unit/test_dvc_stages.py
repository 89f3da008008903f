"""The DVC stream stage depends on exactly the code `velib run` executes (and nothing else).

Depending on all of pipeline/ re-ran Kafka and Spark whenever a notebook helper
changed; depending on too little would let a stale table pass as up to date.
The import graph (every import statement, at any depth, from the modules the
stage starts in) is the code it runs; a dependency is a whole stage package
(``pipeline/stream``) or a top-level module (``pipeline/record.py``), so the
stage lists a handful of folders, not thirty files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"


def module_file(dotted: str) -> Path | None:
    """The file of a ``pipeline`` module (a package's ``__init__.py``), or None."""
    path = ROOT.joinpath(*dotted.split("."))
    if path.is_dir():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def imported(module: Path, top_level_only: bool = False) -> set[str]:
    """The ``pipeline`` modules ``module`` imports (all statements, or module level only)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            names.add(node.module)
            # ``from pipeline.stream import job``: job is a module of its own
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("pipeline.")}
    return {n for n in names if module_file(n) is not None}


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


def test_the_stream_stage_depends_on_the_code_velib_run_executes():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["stream"]
    deps = {str(d) for d in stage["deps"] if str(d).startswith("pipeline")}
    # the command line's own imports (its handlers import their stage lazily) + the run stage
    start = imported(PACKAGE / "cli.py", top_level_only=True) | {"pipeline.run"}
    runs = {unit(name) for name in closure(start)} | {"pipeline/__init__.py", "pipeline/cli.py"}
    assert runs - deps == set(), f"the stream stage misses {sorted(runs - deps)}"
    assert deps - runs == set(), f"the stream stage needlessly depends on {sorted(deps - runs)}"
    inside = [d for d in deps if d.count("/") > 1]
    assert inside == [], f"depend on the stage package, not on its files: {inside}"


def test_the_forecast_stage_depends_on_the_code_its_commands_execute():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["forecast"]
    deps = {str(d) for d in stage["deps"] if str(d).startswith("pipeline")}
    verbs = {f"pipeline.forecast.{verb}" for verb in ("train", "predict", "evaluate")}
    start = imported(PACKAGE / "cli.py", top_level_only=True) | verbs
    runs = {unit(name) for name in closure(start)} | {"pipeline/__init__.py", "pipeline/cli.py"}
    assert runs == deps, (sorted(runs - deps), sorted(deps - runs))
