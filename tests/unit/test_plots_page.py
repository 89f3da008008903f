"""The `dvc plots show` page: built from its source with Vega inlined, nothing from a network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from analysis.plots_page import PLOTS, render


def test_page_html_is_built_from_its_source_and_the_vendored_scripts() -> None:
    built = render((PLOTS / "page.src.html").read_text(encoding="utf-8"), PLOTS / "vendor")
    assert (PLOTS / "page.html").read_text(encoding="utf-8") == built, (
        "run .venv/bin/python -m analysis.plots_page after editing page.src.html"
    )


def test_page_loads_nothing_from_a_network_and_keeps_dvc_placeholders() -> None:
    page = (PLOTS / "page.html").read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "<!-- vendor:" not in page
    assert "<script src=" not in page and "cdn.jsdelivr" not in page
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        assert f"/* {name} */" in page


def test_vendored_scripts_match_their_recorded_sums() -> None:
    for line in (PLOTS / "vendor" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((PLOTS / "vendor" / name).read_bytes()).hexdigest() == digest, name


def test_a_script_that_would_close_the_element_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.js").write_text("var s = '</script>';")
    with pytest.raises(ValueError, match="cannot be inlined"):
        render("<!-- vendor: x.js -->", tmp_path)
