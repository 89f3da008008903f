"""velib compare speaks the indicator vocabulary, and its figure hides no bar.

If an indicator is renamed in pipeline.vocabulary (or compare grows one the
vocabulary lacks), these tests fail: compare's names must be the vocabulary's
area columns and conditions, and its definitions the vocabulary's functions,
checked against the raw GBFS JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.text import Text

from pipeline import vocabulary
from pipeline.compare import job as cmp
from pipeline.compare.report import comparison_figure
from pipeline.research import tables

ROOT = Path(__file__).resolve().parents[3]
GBFS_A, GBFS_B = ROOT / "data/raw/gbfs/2024-11-19", ROOT / "data/raw/gbfs/2025-10-18"
AREA = set(vocabulary.names(vocabulary.AREA))


@pytest.fixture(scope="module")
def gbfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("vocab") / "r"
    summary = cmp.compare(cmp.Side(str(GBFS_A)), cmp.Side(str(GBFS_B)), out)
    return summary, pd.read_csv(out / "areas.csv", dtype={"area": str})


def test_indicator_names_are_the_vocabulary_area_columns():
    assert set(cmp.INDICATORS) == set(cmp.SOURCES), "an indicator the vocabulary lacks"
    assert set(cmp.INDICATORS) <= AREA
    conditions = [c for c in vocabulary.CONDITIONS if c != "normal"]
    shares = {n for n in cmp.INDICATORS if n.endswith("_share")}
    assert shares == {f"{c}_share" for c in conditions}
    assert "occupancy" in vocabulary.DEFINITIONS and "occupancy_mean" in cmp.INDICATORS
    assert list(tables.FLAGS) == conditions
    assert cmp.STATIONS_KNOWN in AREA


def test_areas_csv_columns_and_levels_come_from_the_vocabulary(gbfs):
    _, areas = gbfs
    stems = {
        c.removesuffix(cmp.DELTA_SE).removesuffix("_delta").removesuffix("_a").removesuffix("_b")
        for c in areas
    }
    # compare's one column of its own: the Paris days each side's values come from
    assert stems <= AREA | {cmp.DAYS}, stems - AREA
    assert {f"{n}{cmp.DELTA_SE}" for n in cmp.INDICATORS} <= set(areas)
    assert stems >= set(cmp.INDICATORS)
    assert set(areas["area_level"]) == set(vocabulary.AREA_LEVELS)
    network = areas[areas["area_level"] == "network"]
    assert network["area"].tolist() == [vocabulary.NETWORK_AREA]


def test_flags_follow_the_vocabulary_definitions_on_the_raw_json(gbfs):
    """Network shares of A equal the counts read straight from the 2024 status file."""
    summary, areas = gbfs
    raw = json.loads((GBFS_A / "station_status.json").read_text(encoding="utf-8"))
    stations = raw["data"]["stations"]
    n = len(stations)
    empty = sum(s["num_bikes_available"] == 0 for s in stations) / n
    full = sum(s["num_docks_available"] == 0 for s in stations) / n
    oos = sum(
        not s["is_installed"] or (not s["is_renting"] and not s["is_returning"]) for s in stations
    )
    assert summary.network["empty_share"][0] == pytest.approx(empty)
    assert summary.network["full_share"][0] == pytest.approx(full)
    assert summary.network["out_of_service_share"][0] == pytest.approx(oos / n)
    assert empty > 0.1  # a Tuesday morning: 12.9 % of the stations have no bike


@pytest.fixture(scope="module")
def like_with_like(tmp_path_factory):
    """The bundled open-data sample against itself: like with like, four Paris days a side."""
    out = tmp_path_factory.mktemp("like") / "r"
    raw = str(ROOT / "data/raw/opendata-history")
    summary = cmp.compare(cmp.Side(raw), cmp.Side(raw), out)
    return summary, pd.read_csv(out / "areas.csv", dtype={"area": str})


@pytest.mark.slow  # its fixture compares the four days with themselves and draws them
def test_figure_draws_b_minus_a_with_its_spread_and_says_when(like_with_like):
    summary, areas = like_with_like
    assert summary.selection.like_with_like
    fig = comparison_figure(areas, summary)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    bars = [p for ax in fig.axes for p in ax.patches]
    assert len(bars) == 2 * 20  # two panels, one B - A bar per arrondissement
    whiskers = [
        c for ax in fig.axes for c in ax.containers if isinstance(c, BarContainer) and c.errorbar
    ]
    assert len(whiskers) == 2  # each panel carries ± twice the standard error
    (caption,) = [t for t in fig.findobj(Text) if t.get_text().startswith("A: ")]
    box = caption.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    text = caption.get_text()
    assert text.startswith("A: Thu 2022-05-12 12:22 CEST – Sun 2022-05-15 01:37 CEST")
    assert "B: Thu 2022-05-12 12:22 CEST" in text and "A 4 Paris days, B 4 Paris days" in text
    assert "like with like" in fig.get_suptitle() and "Not" not in fig.get_suptitle()
