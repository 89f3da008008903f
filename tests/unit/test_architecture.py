"""The folder tree is the architecture: arrows run one way, as each package declares.

Every stage package's ``__init__`` docstring ends with the line
``Imports from the project: a, b, c.``; this test reads that line and holds
every module of the package to it (imports at any depth, lazy ones included).
The ground floor (record, poll, vocabulary, lifecycle, durable, clock) imports nothing of
ours but the record's timestamp format (poll) and the zone setting (clock); only the top
(cli, run, live) may reach every stage, and no stage reaches the top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
# the ground floor, each module with the little of ours it may use
GROUND: dict[str, set[str]] = {
    "record": set(),
    "poll": {"record"},
    "vocabulary": set(),
    "lifecycle": set(),
    "durable": set(),
    "clock": {"settings"},  # the zone: params.yaml base.timezone, declared in settings/clock.py
}
TOP = {"cli", "run", "live"}
STAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def units_imported(path: Path) -> set[str]:
    """The project units (a stage package or a top-level module) a file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            parts = node.module.split(".")
            found |= {a.name for a in node.names} if len(parts) == 1 else {parts[1]}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline.")}
    return found


def declared(stage: str) -> set[str]:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text())) or ""
    match = re.search(r"Imports from the project: ([^.]*)\.", doc)
    assert match, f"pipeline/{stage}/__init__.py does not say what it may import"
    text = match.group(1).strip()
    return set() if text == "nothing" else {n.strip() for n in text.split(",")}


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_what_its_package_declares(stage):
    allowed = declared(stage) | {stage}
    assert not allowed & TOP, f"{stage} may not import the command line or the run"
    for path in sorted((PACKAGE / stage).rglob("*.py")):
        extra = units_imported(path) - allowed
        assert not extra, f"{path.relative_to(PACKAGE)} imports {sorted(extra)}, undeclared"


@pytest.mark.parametrize("module", sorted(GROUND))
def test_the_ground_floor_imports_nothing_of_ours(module):
    assert units_imported(PACKAGE / f"{module}.py") == GROUND[module]


def test_every_module_is_in_a_stage_or_named_on_a_floor():
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top_level == set(GROUND) | TOP, "a new top-level module belongs in a stage package"
