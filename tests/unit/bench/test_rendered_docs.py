"""docs/benchmarks.md's first table is the results file rendered, never a hand copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "benchmarks.md"


def test_the_benchmarks_page_shows_latest_json():
    doc = json.loads((ROOT / "reports" / "bench" / "latest.json").read_text(encoding="utf-8"))
    assert report.render(doc, PAGE) == PAGE.read_text(encoding="utf-8"), (
        "docs/benchmarks.md differs from reports/bench/latest.json: "
        "python -m bench.report reports/bench/latest.json docs/benchmarks.md"
    )


def test_a_page_without_the_block_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no block\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no block"):
        report.render({}, page)
