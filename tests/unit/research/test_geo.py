"""Arrondissement geometry, and the code-prefix rule of sources.normalize checked against it.

The cross-check runs point-in-polygon on every station with coordinates in the
bundled real sample (both GBFS snapshots, the 45 open-data files) and asserts
the exact list of stations where the polygon and the recorded arrondissement
differ, decided from the data (see data/reference/README.md):

- across: 14 stations on a border street, 0.9-20 m across it from the
  arrondissement of their code; the code is kept (operator's attribution).
- commune: 4 stations the commune table puts in Ivry, Malakoff, Montrouge and
  Pantin, 0.8-3.4 m inside the city limit; the table is kept.
- outside: 12126 (Paris by the table), 3.6 m outside the city limit.
- no_code: 1 GBFS id of May 2022 with no known station code (Mairie du 17ème).

Run with ``-s`` to see the full report tables.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from pipeline.research import geo
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "raw"

# (rule, polygon) for every station where they differ, in both GBFS snapshots.
ACROSS = {
    "11021": (11, 20),
    "17024": (17, 8),
    "17124": (17, 18),
    "18043": (18, 9),
    "19037": (19, 20),
    "19041": (19, 20),
    "2002": (2, 1),
    "20030": (20, 11),
    "5122": (5, 6),
    "8012": (8, 17),
    "8020": (8, 17),
    "8048": (8, 16),  # moved 29 m west across avenue Marceau between 2022 and 2024
    "9114": (9, 10),
    "9118": (9, 10),
}
COMMUNE = {"13121": 13, "14023": 14, "14116": 14, "19043": 19}  # polygon, rule None
OUTSIDE = {"12126": 12}  # rule, polygon None
GBFS_EXPECTED = {
    **ACROSS,
    **{code: (None, poly) for code, poly in COMMUNE.items()},
    **{code: (rule, None) for code, rule in OUTSIDE.items()},
}
# May 2022: 8048 was still on the 8e side. Of the GBFS ids that no station_information file
# knows, data/reference/station_ids_derived.csv gives 35 their code (each agrees with the
# polygons); one id of the sample stays without a code: Mairie du 17ème.
NO_CODE = {"id:102290754": 17}
OPENDATA_EXPECTED = {
    **{k: v for k, v in GBFS_EXPECTED.items() if k != "8048"},
    **{code: (None, poly) for code, poly in NO_CODE.items()},
}


def _check(folder: Path) -> geo.CrossCheck:
    return geo.cross_check(r for snap in read_recorded(folder) for r in snap.records)


@pytest.fixture(scope="module")
def checks() -> dict[str, geo.CrossCheck]:
    out = {
        "gbfs-2024-11-19": _check(RAW / "gbfs" / "2024-11-19"),
        "gbfs-2025-10-18": _check(RAW / "gbfs" / "2025-10-18"),
        "opendata-2022-05": _check(RAW / "opendata-history"),
    }
    for name, check in out.items():
        print(f"\n{name}\n{geo.report(check)}")
    return out


# --- boundaries and projection --------------------------------------------------------


def test_twenty_arrondissements_with_their_official_areas():
    arrs = geo.load_arrondissements()
    assert [a.number for a in arrs] == list(range(1, 21))
    assert [a.label for a in arrs[:3]] == ["1er", "2e", "3e"]
    assert arrs[0].name == "Louvre" and arrs[19].name == "Ménilmontant"
    features = json.loads(geo.BOUNDARIES.read_text(encoding="utf-8"))["features"]
    official = {f["properties"]["c_ar"]: f["properties"]["surface"] for f in features}
    for a in arrs:  # the City computed `surface` in Lambert-93: a wrong projection shows here
        assert a.polygon.area == pytest.approx(official[a.number], rel=2e-4), a.number
    assert sum(a.polygon.area for a in arrs) / 1e6 == pytest.approx(105.4, abs=0.1)
    # the 20 tile the city: no overlaps
    union = shapely.union_all([a.polygon for a in arrs])
    assert union.area == pytest.approx(sum(a.polygon.area for a in arrs), rel=1e-6)


def test_lambert93_origin_and_argument_order():
    x, y = geo.to_lambert93(46.5, 3.0)  # the projection's defined origin
    assert (float(x), float(y)) == pytest.approx((700_000.0, 6_600_000.0), abs=1e-3)
    # Paris is north-west of it: swapping lat and lon would land far away
    x, y = geo.to_lambert93(48.8534, 2.3488)
    assert 640_000 < x < 660_000 and 6_855_000 < y < 6_870_000


def test_each_reference_point_lies_in_its_own_arrondissement():
    features = json.loads(geo.BOUNDARIES.read_text(encoding="utf-8"))["features"]
    numbers = [f["properties"]["c_ar"] for f in features]
    lat = [f["properties"]["geom_x_y"]["lat"] for f in features]
    lon = [f["properties"]["geom_x_y"]["lon"] for f in features]
    assert geo.locate(lat, lon) == numbers


def test_border_points_belong_to_the_lower_number_and_are_at_distance_zero():
    features = json.loads(geo.BOUNDARIES.read_text(encoding="utf-8"))["features"]
    rings = {
        f["properties"]["c_ar"]: {tuple(c) for c in f["geometry"]["coordinates"][0]}
        for f in features
    }
    shared = sorted(rings[8] & rings[17] - rings[16])  # vertices of the 8e/17e border only
    assert len(shared) > 10
    lon, lat = zip(*shared, strict=True)
    assert geo.locate(lat, lon) == [8] * len(shared)
    assert geo.boundary_distance_m(lat, lon) == pytest.approx(0.0, abs=1e-6)


def test_suburban_stations_are_in_no_arrondissement():
    info = json.loads((RAW / "gbfs/2025-10-18/station_information.json").read_text("utf-8"))
    suburbs = [s for s in info["data"]["stations"] if not 1 <= int(s["stationCode"][:-3]) <= 20]
    assert len(suburbs) > 400
    found = geo.locate([s["lat"] for s in suburbs], [s["lon"] for s in suburbs])
    assert set(found) == {None}


# --- the cross-check of the code-prefix rule ------------------------------------------


@pytest.mark.parametrize(
    ("name", "stations", "expected"),
    [
        ("gbfs-2024-11-19", 1485, GBFS_EXPECTED),
        ("gbfs-2025-10-18", 1495, GBFS_EXPECTED),
        ("opendata-2022-05", 1414, OPENDATA_EXPECTED),
    ],
)
def test_rule_and_polygons_disagree_exactly_on_the_known_stations(checks, name, stations, expected):
    check = checks[name]
    assert check.stations == stations
    found = {m.station_code: (m.by_rule, m.by_polygon) for m in check.mismatches}
    assert found == expected, geo.report(check)
    assert check.agree == stations - len(expected)


def test_every_disagreement_with_a_code_is_a_border_station(checks):
    """The decision's evidence: within 20 m of a border, and the rule's side is right there."""
    arrs = {a.number: a for a in geo.load_arrondissements()}
    for check in checks.values():
        for m in check.mismatches:
            if m.kind == "no_code":
                continue
            assert m.distance_m <= 20.0, geo.report(check)
            claimed = m.by_rule or m.by_polygon
            assert claimed is not None
            # the position is at most ~20 m from the claimed arrondissement's polygon
            x, y = geo.to_lambert93(m.lat, m.lon)
            assert arrs[claimed].polygon.distance(shapely.Point(x, y)) <= 20.1, m


def test_kinds_of_disagreement(checks):
    kinds = Counter(m.kind for m in checks["gbfs-2025-10-18"].mismatches)
    assert kinds == {"across": 14, "commune": 4, "outside": 1}
    communes = {m.station_code: m.commune for m in checks["gbfs-2025-10-18"].mismatches}
    assert communes["13121"] == "Ivry-sur-Seine" and communes["12126"] == "Paris"
    kinds = Counter(m.kind for m in checks["opendata-2022-05"].mismatches)
    assert kinds == {"across": 13, "commune": 4, "outside": 1, "no_code": 1}


def test_distances_are_metres_not_degrees():
    # 8048 moved 29 m between the two GBFS-era positions (2022 open data vs 2025 GBFS)
    x, y = geo.to_lambert93(np.array([48.86883394989261, 48.868834]), [2.29899678379297, 2.2986031])
    assert float(np.hypot(x[1] - x[0], y[1] - y[0])) == pytest.approx(28.9, abs=0.1)
