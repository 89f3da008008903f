"""The DVC stream stage depends on exactly the code `velib run` executes (and nothing else).

Depending on all of pipeline/ re-ran Kafka and Spark whenever a notebook helper
changed; depending on too little would let a stale table pass as up to date.
The import graph (every import statement, at any depth, from the modules the
stage starts in) is the list of code it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"


def imported(module: Path, top_level_only: bool = False) -> set[str]:
    """The pipeline modules ``module`` imports (all statements, or module level only)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            if node.module == "pipeline":
                names |= {alias.name for alias in node.names}
            else:
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline.")}
    return {n for n in names if (PACKAGE / f"{n}.py").exists()}


def closure(start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imported(PACKAGE / f"{name}.py") - seen)
    return seen


def test_the_stream_stage_depends_on_the_code_velib_run_executes():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["stream"]
    deps = {Path(d).stem for d in stage["deps"] if str(d).startswith("pipeline/")}
    # the command line's own imports (its handlers import their stage lazily) + the run stage
    start = imported(PACKAGE / "cli.py", top_level_only=True) | {"run"}
    runs = closure(start) | {"cli", "__init__"}
    assert runs - deps == set(), f"the stream stage misses {sorted(runs - deps)}"
    assert deps - runs == set(), f"the stream stage needlessly depends on {sorted(deps - runs)}"
