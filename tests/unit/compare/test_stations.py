"""pipeline.compare.stations: renumbered stations and what is (not) a rename, on hand-made tables.

Positions are put north of a point by a given number of metres, so every
distance below can be checked by hand (1 m of latitude = 1 / 111,195 degree).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline.compare.stations import KINDS, renumbered_pairs, station_changes

LAT, LON = 48.85, 2.35
M_LAT = 1 / 111_195
T = pd.Timestamp(datetime(2024, 11, 19, 8, tzinfo=UTC))


def side(*stations: tuple[str, str, float, int]) -> pd.DataFrame:
    """A status frame: (code, name, metres north, capacity) per station, one snapshot."""
    return pd.DataFrame(
        {
            "station_code": [s[0] for s in stations],
            "name": [s[1] for s in stations],
            "lat": [LAT + s[2] * M_LAT for s in stations],
            "lon": [LON] * len(stations),
            "capacity": [s[3] for s in stations],
            "commune": ["Paris"] * len(stations),
            "arrondissement": [4] * len(stations),
            "observed_at": [T] * len(stations),
        }
    )


def table(*stations: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"lat": [LAT + m * M_LAT for _, m in stations], "lon": [LON] * len(stations)},
        index=[c for c, _ in stations],
    )


def kinds(changes: pd.DataFrame) -> dict[str, list[str]]:
    return {k: sorted(changes.loc[changes["change"] == k, "station_code"]) for k in KINDS}


def test_a_removed_and_an_added_station_close_by_are_one_renumbered_station():
    a = side(("4005", "Quai des Célestins - Henri IV", 0, 14), ("9", "Far away", 5000, 20))
    b = side(("4201", "Quai des Célestins - Henri IV", 1.3, 12), ("10", "Elsewhere", 900, 20))
    changes = station_changes(a, b, move_threshold_m=50, renumber_within_m=50)
    assert kinds(changes) == {
        "added": ["10"],
        "removed": ["9"],
        "renumbered": ["4005"],
        "renamed": [],
        "moved": [],
        "capacity": [],
    }
    row = changes[changes["change"] == "renumbered"].iloc[0]
    assert (row.new_code, row.capacity_a, row.capacity_b) == ("4201", 14, 12)
    assert row.distance_m == pytest.approx(1.3, abs=0.05)


def test_pairs_are_nearest_first_and_each_station_used_once():
    # removed r1 at 0 m and r2 at 30 m; added n1 at 10 m and n2 at 45 m: r1-n1 is the
    # nearest pair (10 m), then r2-n2 (15 m); r2-n1 (20 m) and r1-n2 (45 m) are not taken.
    pairs = renumbered_pairs(table(("r1", 0), ("r2", 30)), table(("n1", 10), ("n2", 45)), 50)
    assert [(o, n) for o, n, _ in pairs] == [("r1", "n1"), ("r2", "n2")]
    assert [round(m, 1) for _, _, m in pairs] == [10.0, 15.0]
    # one added station between two removed ones: only the nearer removed one takes it
    one = renumbered_pairs(
        table(("r1", 0), ("r2", 30)),
        table(
            ("n1", 20),
        ),
        50,
    )
    assert [(o, n) for o, n, _ in one] == [("r2", "n1")]
    assert renumbered_pairs(table(("r1", 0)), table(("n1", 51)), 50) == []


def test_names_differing_only_by_punctuation_case_accents_or_spacing_are_not_renames():
    a = side(("1", "Karl Marx.", 0, 20), ("2", "Saint-Michel - Luxembourg", 100, 20))
    a = pd.concat([a, side(("3", "Rene  Boulanger", 200, 20), ("4", "Serrurier", 300, 20))])
    b = side(("1", "Karl Marx", 0, 20), ("2", "saint michel luxembourg", 100, 20))
    b = pd.concat([b, side(("3", "René Boulanger", 200, 20), ("4", "Sérurier - Aulard", 300, 20))])
    changes = station_changes(a, b, move_threshold_m=50, renumber_within_m=50)
    assert kinds(changes)["renamed"] == ["4"]
    row = changes[changes["change"] == "renamed"].iloc[0]
    assert (row.name_a, row.name_b) == ("Serrurier", "Sérurier - Aulard")


def test_moved_and_capacity_are_only_for_a_code_on_both_sides():
    a = side(("1", "A", 0, 20), ("2", "B", 1000, 20))
    b = side(("1", "A", 60, 20), ("2", "B", 1000, 25))
    changes = station_changes(a, b, move_threshold_m=50, renumber_within_m=50)
    assert kinds(changes)["moved"] == ["1"] and kinds(changes)["capacity"] == ["2"]
    assert changes.loc[changes["change"] == "moved", "distance_m"].iloc[0] == pytest.approx(60)
