"""Paris arrondissements as geometry: boundaries, a metric projection, point-in-polygon.

The stream stage gives each station its arrondissement from its code
(:mod:`pipeline.sources.normalize`); maps, and the check of that rule against the real
boundaries, need the polygons themselves
(``data/reference/paris-arrondissements/``, © Ville de Paris, ODbL).

Stack: **shapely 2 + pyproj**. shapely 2 wraps GEOS with vectorized
predicates (one ``contains_xy`` call per polygon for thousands of stations) and
pyproj wraps PROJ with the EPSG database inside its wheel: both are binary
wheels with no system library, maintained by the same community, and work
offline. geopandas is built on exactly these two; it would add pyogrio (GDAL)
and a GeoDataFrame layer that 20 polygons and a few thousand points do not need.

Projection: **Lambert-93** (EPSG:2154), France's official conformal
projection, in metres. At Paris its scale factor is 0.99989 (110 ppm), so
distances to a boundary in metres and areas are true to well under a metre
(the projected areas equal the file's ``surface`` field to 0.01%), and shapes
keep their angles on a map. WGS84 to RGF93 is the null datum step (PROJ rates
it at 1 m): no grid file, nothing downloaded, same numbers every run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

from pipeline.record import StationRecord, is_placeholder
from pipeline.sources.normalize import REFERENCE_DIR

log = logging.getLogger(__name__)

BOUNDARIES = REFERENCE_DIR / "paris-arrondissements" / "arrondissements.geojson"
WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"


@dataclass(frozen=True)
class Arrondissement:
    """One arrondissement: number (1-20), official name, polygon in Lambert-93 metres."""

    number: int
    name: str
    polygon: shapely.Polygon

    @property
    def label(self) -> str:
        """The French abbreviated ordinal used on maps: 1er, 2e, ... 20e."""
        return ordinal(self.number)


def ordinal(number: int) -> str:
    """1 -> '1er', n -> 'ne' (French typography for arrondissements)."""
    return "1er" if number == 1 else f"{number}e"


@cache
def _to_l93() -> Transformer:
    return Transformer.from_crs(WGS84, LAMBERT93, always_xy=True)


def to_lambert93(lat: ArrayLike, lon: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project WGS84 latitudes and longitudes to Lambert-93 (x east, y north, metres).

    Arguments are in the project's (lat, lon) order; PROJ's (lon, lat) order is
    handled here once, so no caller has to remember it.
    """
    lat_a = np.asarray(lat, dtype="float64")
    lon_a = np.asarray(lon, dtype="float64")
    x, y = _to_l93().transform(lon_a, lat_a)
    return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")


@cache
def load_arrondissements(path: Path = BOUNDARIES) -> tuple[Arrondissement, ...]:
    """Read the GeoJSON boundaries, projected to Lambert-93 and sorted by number.

    Raises:
        ValueError: not the 20 arrondissements, or a geometry that is not one
            valid polygon (a wrong file must not draw a wrong map quietly).

    """
    features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    out: list[Arrondissement] = []
    for feature in features:
        props, geometry = feature["properties"], feature["geometry"]
        if geometry["type"] != "Polygon":
            raise ValueError(f"{path}: arrondissement {props.get('c_ar')} is a {geometry['type']}")
        rings = []
        for ring in geometry["coordinates"]:
            lonlat = np.asarray(ring, dtype="float64")
            rings.append(np.column_stack(to_lambert93(lonlat[:, 1], lonlat[:, 0])))
        polygon = shapely.Polygon(rings[0], rings[1:])
        if not polygon.is_valid:
            raise ValueError(f"{path}: arrondissement {props['c_ar']} is not a valid polygon")
        out.append(Arrondissement(int(props["c_ar"]), str(props["l_aroff"]), polygon))
    out.sort(key=lambda a: a.number)
    if [a.number for a in out] != list(range(1, 21)):
        raise ValueError(f"{path}: expected arrondissements 1..20, got {[a.number for a in out]}")
    return tuple(out)


def locate(
    lat: ArrayLike, lon: ArrayLike, arrondissements: Iterable[Arrondissement] | None = None
) -> list[int | None]:
    """The arrondissement each point lies in, or None outside them all.

    A point exactly on a shared border belongs to the lower number, so the
    answer never depends on the order of the file.
    """
    x, y = to_lambert93(np.atleast_1d(lat), np.atleast_1d(lon))
    found = np.zeros(x.shape, dtype="int64")
    for arr in sorted(arrondissements or load_arrondissements(), key=lambda a: -a.number):
        found[shapely.intersects_xy(arr.polygon, x, y)] = arr.number
    return [int(n) or None for n in found]


def boundary_distance_m(
    lat: ArrayLike, lon: ArrayLike, arrondissements: Iterable[Arrondissement] | None = None
) -> NDArray[np.float64]:
    """Distance in metres from each point to the nearest arrondissement border.

    Borders include the city limit, so this measures how close a station is to
    any line where the answer of :func:`locate` changes.
    """
    x, y = to_lambert93(np.atleast_1d(lat), np.atleast_1d(lon))
    points = shapely.points(x, y)
    borders = shapely.union_all(
        [a.polygon.boundary for a in arrondissements or load_arrondissements()]
    )
    return np.asarray(shapely.distance(borders, points), dtype="float64")


# --- the check of the code-prefix rule ----------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """A station whose recorded arrondissement differs from the one its position lies in."""

    station_code: str
    name: str | None
    commune: str | None
    lat: float
    lon: float
    by_rule: int | None
    by_polygon: int | None
    distance_m: float

    @property
    def kind(self) -> str:
        """Why they differ, from the record alone.

        ``no_code``: a GBFS id with no known station code, so the rule cannot
        apply; ``commune``: the commune table puts the station outside Paris;
        ``outside``: the point lies in no arrondissement; ``across``: both name
        an arrondissement, different ones.
        """
        if is_placeholder(self.station_code):
            return "no_code"
        if self.by_rule is None and self.commune not in (None, "Paris"):
            return "commune"
        if self.by_polygon is None:
            return "outside"
        return "across"


@dataclass(frozen=True)
class CrossCheck:
    """How the recorded arrondissements compare with point-in-polygon, per distinct station."""

    stations: int
    agree: int
    mismatches: tuple[Mismatch, ...]


def cross_check(records: Iterable[StationRecord]) -> CrossCheck:
    """Compare each distinct (code, lat, lon) station's ``arrondissement`` with the polygons.

    Records without coordinates are left out; a station recorded at two
    positions counts twice, since each position is a separate claim. Positions
    are compared to 1e-7 degree (about 1 cm): the open-data layouts write the
    same coordinates with 13 or 15 decimals.
    """
    seen: dict[tuple[str, float, float], StationRecord] = {}
    for r in records:
        if r.lat is not None and r.lon is not None:
            seen.setdefault((r.station_code, round(r.lat, 7), round(r.lon, 7)), r)
    keys = sorted(seen)
    lat = [k[1] for k in keys]
    lon = [k[2] for k in keys]
    arrondissements = load_arrondissements()
    by_polygon = locate(lat, lon, arrondissements)
    distance = boundary_distance_m(lat, lon, arrondissements)
    mismatches = tuple(
        Mismatch(
            key[0],
            seen[key].name,
            seen[key].commune,
            key[1],
            key[2],
            seen[key].arrondissement,
            polygon,
            round(float(metres), 1),
        )
        for key, polygon, metres in zip(keys, by_polygon, distance, strict=True)
        if seen[key].arrondissement != polygon
    )
    return CrossCheck(len(keys), len(keys) - len(mismatches), mismatches)


def report(check: CrossCheck) -> str:
    """The cross-check as a text table (one line per mismatch), for logs and tests."""
    lines = [
        f"stations={check.stations} agree={check.agree} differ={len(check.mismatches)}",
        f"{'code':<14} {'rule':>4} {'poly':>4} {'dist_m':>7}  {'kind':<8} commune / name",
    ]
    for m in check.mismatches:
        lines.append(
            f"{m.station_code:<14} {m.by_rule or '-':>4} {m.by_polygon or '-':>4} "
            f"{m.distance_m:>7.1f}  {m.kind:<8} {m.commune or '-'} / {m.name or '-'}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m pipeline.research.geo data/raw/gbfs/2025-10-18 ...
    import sys

    from pipeline.sources.recorded import read_recorded

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for root in sys.argv[1:]:
        recs = (r for snap in read_recorded(Path(root)) for r in snap.records)
        log.info("%s\n%s\n", root, report(cross_check(recs)))
