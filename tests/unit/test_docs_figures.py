"""docs/figures/ holds copies of reproduced figures only (tools/docs_figures.py).

Every image a page shows from docs/figures/ has the figure it copies named in
the tool, and every file there is shown; the copy and the check are tried on a
hand-made project (the reproduced figures are in the DVC cache, not in git).
"""

from __future__ import annotations

import re
from pathlib import Path

from tools import docs_figures

ROOT = Path(__file__).resolve().parents[2]
IMAGE = re.compile(r"!\[[^\]]*\]\(figures/(?P<name>[^)]+)\)")


def test_every_figure_the_docs_show_copies_a_reproduced_one():
    shown = {
        m["name"] for page in (ROOT / "docs").glob("*.md") for m in IMAGE.finditer(page.read_text())
    }
    assert shown == set(docs_figures.FIGURES)
    assert {p.name for p in (ROOT / "docs" / "figures").iterdir()} == shown
    for source in docs_figures.FIGURES.values():
        assert source.startswith("reports/figures/") and source.endswith(".png")


def test_copy_then_check(tmp_path, monkeypatch):
    monkeypatch.setattr(docs_figures, "ROOT", tmp_path)
    monkeypatch.setattr(
        docs_figures,
        "FIGURES",
        {"a.png": "reports/figures/r/a.png", "b.png": "reports/figures/b.png"},
    )
    (tmp_path / "docs" / "figures").mkdir(parents=True)
    (tmp_path / "reports" / "figures" / "r").mkdir(parents=True)
    (tmp_path / "reports" / "figures" / "r" / "a.png").write_bytes(b"new")
    (tmp_path / "docs" / "figures" / "a.png").write_bytes(b"old")
    assert docs_figures.stale(tmp_path) == (["a.png"], ["reports/figures/b.png"])
    assert docs_figures.main(["--check"]) == 1
    assert (tmp_path / "docs" / "figures" / "a.png").read_bytes() == b"old"
    assert docs_figures.main([]) == 0
    assert (tmp_path / "docs" / "figures" / "a.png").read_bytes() == b"new"
    assert docs_figures.main(["--check"]) == 0  # b.png not built here: reported, not a failure
