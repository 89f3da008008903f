"""``make metrics`` fits a 120-column terminal: analysis/show_metrics.py on the real metrics.

The input is what ``dvc metrics show --json`` answers for the workspace, built here
from dvc.yaml's declared metric files and the committed reports/metrics/*.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.show_metrics import WIDTH, render
from tools import dvc_lock

ROOT = Path(__file__).resolve().parents[2]


def _declared_metrics() -> list[str]:
    stages = dvc_lock.stages(ROOT)
    return [p for stage in stages.values() for p in dvc_lock.paths(stage.get("metrics", []))]


def _shown() -> dict:
    data = {
        p: {"data": json.loads((ROOT / p).read_text(encoding="utf-8"))} for p in _declared_metrics()
    }
    return {"": {"data": data}}


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """Lines under each file heading (a heading is a line that does not start with a space)."""
    out: dict[str, list[str]] = {}
    for line in lines:
        if line and not line.startswith(" "):
            heading = out.setdefault(line, [])
        elif line:
            heading.append(line)
    return out


def test_every_line_of_the_real_metrics_fits_120_columns():
    shown = _shown()
    lines = render(shown)
    assert max(len(line) for line in lines) <= WIDTH == 120
    sections = _sections(lines)
    assert list(sections) == list(shown[""]["data"]) == _declared_metrics()
    for path, entry in shown[""]["data"].items():
        assert len(sections[path]) == len(entry["data"])  # one key per line
        for line, (key, value) in zip(sections[path], entry["data"].items(), strict=True):
            shown_value = value if isinstance(value, str) else json.dumps(value)
            assert line.split(maxsplit=1) == [key, shown_value]


def test_long_values_wrap_under_themselves_and_nested_keys_are_dotted():
    long = " ".join(["Thu 2022-05-12 12:22 CEST – Wed 2022-05-18 23:36 CEST"] * 4)
    shown = {"HEAD": {"data": {"m.json": {"data": {"a_paris": long, "ingest": {"rows": 3}}}}}}
    lines = render(shown)
    assert lines[:2] == ["HEAD:", "m.json"]
    assert all(len(line) <= WIDTH for line in lines)
    value_lines = [x for x in lines if "CEST" in x]
    assert len(value_lines) > 1 and value_lines[0].startswith("  a_paris      Thu")
    column = value_lines[0].index("Thu")
    assert all(x[:column].strip() == "" for x in value_lines[1:])
    assert " ".join(x[column:] for x in value_lines) == long
    assert "  ingest.rows  3" in lines
