"""``make metrics``: every metric ``dvc metrics show --json`` reports, one key per line.

``dvc metrics show`` prints one table row per file with a column for every key
of every file: over 1,000 columns for this project, and still 300 for
``compare.json`` alone. Here each file is a heading and each key a line under
it, so every line fits a terminal of :data:`WIDTH` columns; a value too long for
its line wraps under itself. Nested keys are joined with dots, as DVC names them.

Usage: ``dvc metrics show --json | python -m analysis.show_metrics``.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

WIDTH = 120
INDENT = "  "


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) pairs of a metrics object, in its own order."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, f"{name}.")
        else:
            yield name, value


def _text(value: Any) -> str:
    """A value as ``dvc metrics show`` writes it (strings bare, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(shown: Mapping[str, Any], width: int = WIDTH) -> list[str]:
    """The lines for one ``dvc metrics show --json`` answer (every revision in it)."""
    lines: list[str] = []
    for rev, result in shown.items():
        if rev:  # the workspace is "", a revision is named
            lines.append(f"{rev}:")
        if "error" in result:
            lines.append(f"{INDENT}error: {result['error']}")
        for path, entry in result.get("data", {}).items():
            lines.append(path)
            if "error" in entry:
                lines.append(f"{INDENT}error: {entry['error']}")
            items = list(flatten(entry.get("data") or {}))
            key_width = max((len(k) for k, _ in items), default=0)
            room = max(width - len(INDENT) - key_width - 2, 20)
            for key, value in items:
                chunks = textwrap.wrap(_text(value), room, break_on_hyphens=False) or [""]
                lines.append(f"{INDENT}{key:<{key_width}}  {chunks[0]}")
                lines += [f"{INDENT}{'':<{key_width}}  {more}" for more in chunks[1:]]
            lines.append("")
    return lines


def main() -> int:
    """Read ``dvc metrics show --json`` on stdin, print the metrics one key per line."""
    text = sys.stdin.read()
    try:
        shown = json.loads(text)
    except json.JSONDecodeError:
        print(f"show_metrics: not the JSON of dvc metrics show: {text[:200]!r}", file=sys.stderr)
        return 2
    print("\n".join(render(shown)).rstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
