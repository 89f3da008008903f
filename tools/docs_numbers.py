"""The numbers the README and docs/ quote, filled in from reports/metrics/ (``make docs``).

A hand-copied number drifts from the result it quotes; here every such number
is marked in the Markdown with where it comes from, and rendered from it::

    polled <!--m may2022-hourly/observation.json polls-->309<!--/m--> times

The comment is invisible on GitHub; the text between the two comments is the
rendered value. A marker names a metrics file under ``reports/metrics/`` and a
key, and optionally a format after a ``|``:

* a JSON file and one of its keys (dotted when nested):
  ``may2022-hourly/episodes.json empty_episodes``, ``stream_details.json ingest.polls``;
* a CSV file, a column and the row where every ``column=value`` holds:
  ``resolution.csv per_1000_station_hours view=nov2024-5min condition=empty``
  (a value with a space in quotes: ``group="outside Paris"``);
* a format: a Python format spec (``|,.0f``, ``|.1%``), or ``|minutes`` (a
  duration in words: ``59 min``, ``3.2 h``), ``|x100`` (a share as a number of
  percent, ``24``; ``|x100:.1f`` for ``24.2``).

``python tools/docs_numbers.py`` rewrites the files in place; ``--check``
rewrites nothing and exits 1, naming each number that differs from its metric
(``make lint`` runs it, and a unit test holds the committed docs to it).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
METRICS = Path("reports/metrics")
MARKER = re.compile(r"<!--m (?P<spec>[^>]*?)-->(?P<value>.*?)<!--/m-->", re.DOTALL)


def pages(root: Path = ROOT) -> list[Path]:
    """The Markdown files whose numbers are rendered: the README and docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def lookup(spec: str, root: Path = ROOT) -> Any:
    """The value a marker's spec (``FILE KEY [column=value ...]``) points at."""
    words = shlex.split(spec.split("|", 1)[0])  # a quoted value may hold spaces
    if len(words) < 2:
        raise ValueError(f"marker {spec!r}: expected FILE KEY")
    path = root / METRICS / words[0]
    if not path.is_file():
        raise ValueError(f"marker {spec!r}: no metrics file {path.relative_to(root)}")
    data = _load(path)
    if path.suffix == ".json":
        value = data
        for part in words[1].split("."):  # a nested key: ingest.snapshots
            if not isinstance(value, dict) or part not in value:
                raise ValueError(f"marker {spec!r}: no key {words[1]} in {words[0]}")
            value = value[part]
        return value
    where = dict(w.split("=", 1) for w in words[2:])
    rows = [r for r in data if all(r.get(k) == v for k, v in where.items())]
    if len(rows) != 1:
        raise ValueError(f"marker {spec!r}: {len(rows)} rows of {words[0]} match, not one")
    text = rows[0][words[1]]
    try:
        return float(text) if text != "" else None
    except ValueError:
        return text


def formatted(value: Any, fmt: str) -> str:
    """A value as the docs write it (see the module doc for the formats)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if fmt == "minutes":
        minutes = float(value)
        return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    if fmt.startswith("x100"):
        return format(float(value) * 100, fmt[5:] or ".0f")
    if fmt:
        return format(value, fmt)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(text: str, root: Path = ROOT) -> str:
    """The text with every marked number replaced by its metric's value."""

    def fill(match: re.Match[str]) -> str:
        spec = match.group("spec")
        fmt = spec.split("|", 1)[1].strip() if "|" in spec else ""
        value = formatted(lookup(spec, root), fmt)
        return f"<!--m {spec}-->{value}<!--/m-->"

    return MARKER.sub(fill, text)


def differences(text: str, root: Path = ROOT) -> list[str]:
    """``quoted -> metric`` for every marked number that differs from its metric."""
    rendered = {m.group("spec"): m.group("value") for m in MARKER.finditer(render(text, root))}
    found = []
    for m in MARKER.finditer(text):
        quoted, metric = m.group("value"), rendered[m.group("spec")]
        if quoted != metric:
            found.append(f"{m.group('spec').strip()}: {quoted!r}, the metric says {metric!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Render the docs' numbers in place, or with ``--check`` list those that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    stale = []
    for page in pages(ROOT):
        text = page.read_text(encoding="utf-8")
        try:
            found = differences(text, ROOT)
        except ValueError as exc:
            sys.stderr.write(f"{page.relative_to(ROOT)}: {exc}\n")
            return 2
        if found and not args.check:
            page.write_text(render(text, ROOT), encoding="utf-8")
        stale += [f"{page.relative_to(ROOT)}: {line}" for line in found]
    for line in stale:
        sys.stderr.write(("" if args.check else "rendered ") + line + "\n")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
