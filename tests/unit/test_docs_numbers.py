"""Every number the README and docs/ quote from a result is that result (tools/docs_numbers.py).

The committed pages against the committed reports/metrics/: a quoted number that
its metric no longer says fails here, with the marker that names its source.
The renderer itself is checked on a hand-made project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import docs_numbers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", docs_numbers.pages(ROOT), ids=lambda p: p.name)
def test_every_quoted_number_is_its_metric(page):
    assert docs_numbers.differences(page.read_text(encoding="utf-8"), ROOT) == []


def test_the_research_pages_quote_their_numbers_from_the_metrics():
    research = (ROOT / "docs" / "research.md").read_text(encoding="utf-8")
    assert len(docs_numbers.MARKER.findall(research)) >= 20
    assert len(docs_numbers.MARKER.findall((ROOT / "README.md").read_text())) >= 5


@pytest.fixture
def project(tmp_path: Path) -> Path:
    metrics = tmp_path / "reports" / "metrics" / "rec"
    metrics.mkdir(parents=True)
    (metrics / "obs.json").write_text(json.dumps({"polls": 309, "gap": 59.4167, "share": 0.242}))
    (metrics / "t.csv").write_text(
        "view,condition,rate\nhourly,empty,1.25\nfine,empty,3.5\nall areas,empty,2\n"
    )
    return tmp_path


def test_markers_render_json_keys_csv_cells_and_formats(project):
    text = (
        "polled <!--m rec/obs.json polls-->311<!--/m--> times, "
        "<!--m rec/obs.json gap | minutes-->1 h<!--/m--> apart, "
        "<!--m rec/obs.json share | x100-->?<!--/m--> % observed, "
        "rate <!--m rec/t.csv rate view=fine condition=empty | .1f-->0<!--/m-->."
    )
    assert docs_numbers.render(text, project) == (
        "polled <!--m rec/obs.json polls-->309<!--/m--> times, "
        "<!--m rec/obs.json gap | minutes-->59 min<!--/m--> apart, "
        "<!--m rec/obs.json share | x100-->24<!--/m--> % observed, "
        "rate <!--m rec/t.csv rate view=fine condition=empty | .1f-->3.5<!--/m-->."
    )
    found = docs_numbers.differences(text, project)
    assert len(found) == 4 and found[0] == "rec/obs.json polls: '311', the metric says '309'"
    assert docs_numbers.differences(docs_numbers.render(text, project), project) == []


def test_a_marker_that_names_nothing_is_an_error(project):
    for spec, message in (
        ("rec/none.json polls", "no metrics file"),
        ("rec/obs.json nope", "no key nope"),
        ("rec/t.csv rate condition=empty", "3 rows of rec/t.csv match"),
    ):
        with pytest.raises(ValueError, match=message):
            docs_numbers.render(f"<!--m {spec}-->1<!--/m-->", project)


def test_a_quoted_csv_value_may_hold_spaces(project):
    text = '<!--m rec/t.csv rate view="all areas" condition=empty | .1f-->0<!--/m-->'
    assert docs_numbers.render(text, project) == text.replace("-->0<", "-->2.0<")
