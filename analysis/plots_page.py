"""Build ``.dvc/plots/page.html``, the ``dvc plots show`` page, with Vega inlined.

DVC's own page loads Vega from cdn.jsdelivr.net, so its charts stay blank
offline. This page carries the very versions DVC asks for (``vega@5.20.2``,
``vega-lite@5.2.0``, ``vega-embed@6.18.2``, BSD-3-Clause, from the npm registry;
``.dvc/plots/vendor/`` holds them with their licences and SHA-256 sums), inlined
where ``page.src.html`` says ``<!-- vendor: NAME -->``. Run after editing the
source page: ``.venv/bin/python -m analysis.plots_page`` (a test checks it was).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PLOTS = Path(__file__).resolve().parent.parent / ".dvc" / "plots"
MARK = re.compile(r"<!-- vendor: ([\w.-]+) -->")


def render(source: str, vendor: Path) -> str:
    """The source page with each vendor marker replaced by that script, inline."""

    def inline(match: re.Match[str]) -> str:
        code = (vendor / match.group(1)).read_text(encoding="utf-8")
        if "</script" in code:  # would end the inline element early
            raise ValueError(f"{match.group(1)} cannot be inlined: it contains '</script'")
        return f'<script type="text/javascript">/* {match.group(1)} */\n{code}\n</script>'

    return MARK.sub(inline, source)


def main() -> int:
    page = render((PLOTS / "page.src.html").read_text(encoding="utf-8"), PLOTS / "vendor")
    (PLOTS / "page.html").write_text(page, encoding="utf-8")
    print(f"wrote {PLOTS / 'page.html'} ({len(page) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
