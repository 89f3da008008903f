"""reports/metrics/SCHEMA.md describes every key of every committed metrics JSON file, no more.

A key no one described is a number a reader cannot interpret; a described key
that no file has any more is a definition that drifted from the results. Both
fail here, read from the committed files of every recording (``NAME/`` in a
heading stands for each folder under reports/metrics/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
METRICS = ROOT / "reports" / "metrics"
SCHEMA = METRICS / "SCHEMA.md"
UNITS = {"count", "share", "minutes", "bikes", "r", "id", "ratio", "skill", "UTC", "text", "flag"}
# the placeholders of a key pattern (the page's own list says what each stands for)
PLACEHOLDERS = {
    "h": r"h\d+",
    "split": r"(?:development|final_test)",
    "ci": r"(?:_lo|_hi)?",
    "condition": r"(?:empty|full)",
    "side": r"(?:a|b)",
    "any": r"[^.]+",
}
HEADING = re.compile(r"^## (?P<file>\S+\.json) ")
ROW = re.compile(
    r"^\| `(?P<key>[^`]+)`(?P<optional>\??) "
    r"\| (?P<unit>[^|]+?) \| (?P<grain>[^|]+?) \| (?P<meaning>[^|]+?) \|$"
)


def entries(text: str) -> dict[str, list[dict[str, str]]]:
    """The page's rows per file heading (``NAME/x.json`` or ``x.json``)."""
    found: dict[str, list[dict[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if heading := HEADING.match(line):
            current = heading["file"]
            found[current] = []
        elif (row := ROW.match(line)) and current:
            found[current].append(row.groupdict())
    return found


def pattern(key: str) -> re.Pattern[str]:
    """A schema key as a regular expression over the file's dotted keys."""
    parts = re.split(r"\{(\w+)\}", key)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else PLACEHOLDERS[p] for i, p in enumerate(parts))
    )


def flat(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every leaf key, dotted when nested (as dvc metrics show names them)."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def files(root: Path, name: str) -> list[Path]:
    """The committed files a heading stands for: ``NAME/`` is every recording's folder."""
    if name.startswith("NAME/"):
        return sorted(root.glob(f"*/{name.removeprefix('NAME/')}"))
    return [root / name] if (root / name).is_file() else []


def section_problems(name: str, rows: list[dict[str, str]], root: Path) -> list[str]:
    """One heading's problems: its file, its entries, the keys of its committed files."""
    paths = files(root, name)
    found = [] if paths else [f"{name}: described, but no such metrics file"]
    keys = {p.relative_to(root).as_posix(): set(flat(json.loads(p.read_text()))) for p in paths}
    every = set().union(*keys.values())
    for row in rows:
        if not row["optional"] and not any(pattern(row["key"]).fullmatch(k) for k in every):
            found.append(f"{name}: {row['key']} describes no key any more")
        if row["unit"] not in UNITS or not row["meaning"].strip():
            found.append(f"{name}: {row['key']} has no known unit or no meaning")
    for path, have in keys.items():
        for key in sorted(have):
            if not any(pattern(row["key"]).fullmatch(key) for row in rows):
                found.append(f"{path}: {key} has no entry in SCHEMA.md")
    return found


def problems(schema: str, root: Path) -> list[str]:
    """Keys without an entry, entries without a key, entries without a unit or a meaning."""
    described = entries(schema)
    found = [
        line for name, rows in described.items() for line in section_problems(name, rows, root)
    ]
    covered = {p for name in described for p in files(root, name)}
    for path in sorted(root.glob("**/*.json")):
        if path not in covered:
            found.append(f"{path.relative_to(root).as_posix()}: a metrics file with no section")
    return found


def test_every_committed_metrics_key_is_described_and_every_entry_has_a_key():
    assert problems(SCHEMA.read_text(encoding="utf-8"), METRICS) == []


def test_every_recording_has_the_same_metrics_files():
    recordings = [d for d in METRICS.iterdir() if d.is_dir()]
    assert len(recordings) >= 2
    assert len({tuple(sorted(p.name for p in d.glob("*.json"))) for d in recordings}) == 1


ONE = """## NAME/a.json — one

| key | unit | grain | meaning |
|---|---|---|---|
| `polls` | count | polls | polls |
| `skill_{h}{ci}` | skill | targets | a skill |
| `x_version`? | id | version | only sometimes |
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("r1", "r2"):
        (tmp_path / name).mkdir()
        data = {"polls": 3, "skill_h15": 0.1, "skill_h15_lo": 0.0, "skill_h15_hi": 0.2}
        (tmp_path / name / "a.json").write_text(json.dumps(data))
    return tmp_path


def test_patterns_and_optional_keys_are_understood(project):
    assert problems(ONE, project) == []


def test_an_undescribed_key_a_stale_entry_and_a_bad_unit_fail(project):
    (project / "r2" / "a.json").write_text(json.dumps({"polls": 3, "records": 9}))
    (project / "other.json").write_text("{}")
    text = ONE.replace("| `polls` | count |", "| `polls` | percent |")
    text += "| `gone` | count | polls | a key no file has |\n"
    assert problems(text, project) == [
        "NAME/a.json: polls has no known unit or no meaning",
        "NAME/a.json: gone describes no key any more",
        "r2/a.json: records has no entry in SCHEMA.md",
        "other.json: a metrics file with no section",
    ]


def test_nested_keys_are_dotted(project):
    (project / "r1" / "a.json").write_text(json.dumps({"polls": 1, "ingest": {"seen": 2}}))
    assert "r1/a.json: ingest.seen has no entry in SCHEMA.md" in problems(ONE, project)
