"""pipeline.sources.stationids: GBFS ids of May 2022 given their code by position and name.

Synthetic cases test the rule itself; the hand-checked cases of
data/reference/README.md run on real rows (tests/fixtures/stationids: the May 2022
rows of those ids and every coded station within 100 m of them, June 2022 and
GBFS), against the project's own GBFS table. The last test rebuilds the
committed reference tables from the whole recording when it is there
(``VELIB_SHARED_DATA``, default ``../shared/data``).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import pytest

from pipeline.sources import stationids as S
from pipeline.sources.names import name_key, repair_text
from pipeline.sources.normalize import load_reference
from pipeline.sources.recorded import build_reference_tables

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "tests" / "fixtures" / "stationids"
REFERENCE = ROOT / "data" / "reference"
SHARED = Path(os.environ.get("VELIB_SHARED_DATA", ROOT.parent / "shared" / "data"))

LAT, LON = 48.85, 2.35
M_LAT = 1 / 111_195  # degrees of latitude per metre


def obs(sid: int, name: str, north_m: float = 0.0, snaps: tuple[str, ...] = ("s1",)):
    return S.IdObservation(sid, name, LAT + north_m * M_LAT, LON, len(snaps), frozenset(snaps))


def june(code: str, name: str, north_m: float = 0.0) -> S.CodedStation:
    return S.CodedStation(
        code, name, LAT + north_m * M_LAT, LON, "opendata:2022-06-03", S.TIER_OPENDATA
    )


def gbfs(code: str, name: str, north_m: float = 0.0) -> S.CodedStation:
    return S.CodedStation(code, name, LAT + north_m * M_LAT, LON, "gbfs:2024-11-19", S.TIER_GBFS)


# --- the rule ------------------------------------------------------------------------------


def test_same_name_within_15_m_is_accepted() -> None:
    out = S.match_ids(
        {1: obs(1, "Gare d'Austerlitz")}, [june("13014", "GARE D AUSTERLITZ", 10)], {}
    )
    assert [(r.station_code, r.rule) for r in out.derived] == [("13014", "same-name")]
    assert out.derived[0].distance_m == pytest.approx(10, abs=0.05)


def test_same_name_beyond_15_m_is_refused() -> None:
    out = S.match_ids({1: obs(1, "A - B")}, [june("100", "A - B", 16)], {})
    assert not out.derived and out.unmapped[0].reason.startswith("none within 15 m")


def test_another_name_needs_the_same_position() -> None:
    near = S.match_ids({1: obs(1, "A - B")}, [june("100", "C - D", 0.5)], {})
    assert [(r.station_code, r.rule) for r in near.derived] == [("100", "same-position")]
    far = S.match_ids({1: obs(1, "A - B")}, [june("100", "C - D", 3)], {})
    assert not far.derived and far.unmapped[0].reason.startswith("other name")


def test_two_codes_within_15_m_is_ambiguous() -> None:
    out = S.match_ids({1: obs(1, "A - B")}, [june("100", "A - B"), june("101", "E", 12)], {})
    assert not out.derived and out.unmapped[0].reason.startswith("ambiguous: 2 codes")


def test_the_code_of_a_station_reported_at_the_same_time_is_blocked() -> None:
    observations = {1: obs(1, "A - B", 0, ("s1", "s2")), 2: obs(2, "A - B", 30, ("s2",))}
    out = S.match_ids(observations, [june("100", "A - B", 5)], {2: "100"})
    assert not out.derived
    assert out.unmapped[0].reason.endswith("held by id 2 in the same snapshots")


def test_the_code_of_an_id_never_seen_together_is_not_blocked() -> None:
    observations = {1: obs(1, "A - B", 0, ("s1",)), 2: obs(2, "A - B", 0, ("s2",))}
    out = S.match_ids(observations, [june("100", "A - B")], {2: "100"})
    assert [r.station_code for r in out.derived] == ["100"]


def test_june_2022_beats_a_later_gbfs_successor() -> None:
    out = S.match_ids(
        {1: obs(1, "Rampal - Belleville")},
        [june("19102", "Rampal - Belleville"), gbfs("19204", "Rampal - Belleville", 11.6)],
        {},
    )
    assert [r.station_code for r in out.derived] == ["19102"]


def test_gbfs_is_the_fallback() -> None:
    out = S.match_ids({1: obs(1, "A - B")}, [gbfs("200", "A-B", 4)], {})
    assert [(r.station_code, r.source) for r in out.derived] == [("200", "gbfs:2024-11-19")]


def test_two_ids_given_one_code_in_one_snapshot_are_both_dropped() -> None:
    out = S.match_ids({1: obs(1, "A - B"), 2: obs(2, "A - B", 0.5)}, [june("100", "A - B")], {})
    assert not out.derived and [u.station_id for u in out.unmapped] == [1, 2]
    assert all("also derived for another id" in u.reason for u in out.unmapped)


def test_names_compare_without_accents_case_punctuation_or_mojibake() -> None:
    assert name_key(" Place Léon Gambetta") == "place leon gambetta"
    assert name_key("Goutte d'or - BarbÃƒÂ¨s") == "goutte d or barbes"
    assert name_key("Vaillant-couturier") == name_key("Vaillant-Couturier")
    assert name_key("Karl Marx.") == name_key("karl  marx")
    assert repair_text("RÃƒÂ©collets") == "Récollets"


# --- the hand-checked cases, on real rows ----------------------------------------------------


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8-sig")


@pytest.fixture(scope="module")
def real() -> S.Derivation:
    files = [(p.name, f"opendata:{p.name[15:25]}", _text(p)) for p in sorted(FIX.glob("*.csv.gz"))]
    observations, coded = S.observe(files)
    for info in sorted(FIX.glob("gbfs/*/station_information.json")):
        payload = json.loads(info.read_text(encoding="utf-8"))
        coded += S.gbfs_stations(payload, f"gbfs:{info.parent.name}")
    with (REFERENCE / "station_ids.csv").open(encoding="utf-8") as fh:
        known = {int(r["station_id"]): r["station_code"] for r in csv.DictReader(fh)}
    return S.match_ids(observations, coded, known)


@pytest.mark.parametrize(
    ("station_id", "code", "id_name"),
    [
        (210753033, "13014", "Gare d'Austerlitz"),
        (100905057, "8101", "Londres - Amsterdam"),
        (7268, "12112", "Charenton - Jardiniers"),  # a 4-digit GBFS id
        (214123470, "42023", "Place Léon Gambetta"),  # ' Place Léon Gambetta' in May
        # not 19204 'Rampal - Belleville' (GBFS 2024, same name, 11.6 m): June 2022 decides
        (124176568, "19102", "Rampal - Belleville"),
        # not 31024 (same name, 31.6 m): its id 653208733 is in the same snapshot
        (907081682, "31024_relais", "Romainville - Vaillant-couturier"),
    ],
)
def test_hand_checked_matches(real: S.Derivation, station_id: int, code: str, id_name: str) -> None:
    row = {r.station_id: r for r in real.derived}[station_id]
    assert (row.station_code, row.rule, row.distance_m) == (code, "same-name", 0.0)
    assert (row.id_name, row.source) == (id_name, "opendata:2022-06-03")
    assert name_key(row.code_name) == name_key(id_name)


def test_hand_checked_unmapped_ids_and_why(real: S.Derivation) -> None:
    reasons = {u.station_id: u.reason for u in real.unmapped}
    assert sorted(reasons) == [102290754, 2616300654]
    # Mairie du 17ème (24 docks, 0 bikes, 12-17 May only): nothing coded within 15 m
    assert "17202 'Mariotte - Batignolles' (gbfs:2024-11-19) at 63.8 m" in reasons[102290754]
    # a capacity-0 ghost of Regnault - Patay, 55.9 m from 13118, whose id is reported beside it
    assert "13118 'Regnault - Patay' (opendata:2022-06-03) at 55.9 m" in reasons[2616300654]
    assert reasons[2616300654].endswith("held by id 1057296253 in the same snapshots")


def test_build_reference_tables_writes_the_derived_table(tmp_path: Path) -> None:
    derivation = build_reference_tables(FIX, tmp_path)
    with (tmp_path / "station_ids_derived.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == S.COLUMNS
    assert [int(r["station_id"]) for r in rows] == sorted(r.station_id for r in derivation.derived)
    gare = next(r for r in rows if r["station_id"] == "210753033")
    assert (gare["station_code"], gare["distance_m"], gare["code_name"]) == (
        "13014",
        "0.00",
        "Gare d'Austerlitz",
    )
    # the GBFS table of the fixture maps 653208733 and 1057296253 itself
    ref = load_reference(tmp_path)
    assert (ref.codes_by_id[653208733], ref.codes_by_id[1057296253]) == ("31024", "13118")
    assert ref.codes_by_id[210753033] == "13014" and 102290754 not in ref.codes_by_id


def test_the_gbfs_table_wins_over_a_derived_row(tmp_path: Path) -> None:
    (tmp_path / "station_ids.csv").write_text("station_id,station_code\n1,100\n", "utf-8")
    derived = ",".join(S.COLUMNS) + "\n1,999,same-name,0.00,A,A,x\n2,200,same-name,0.00,B,B,x\n"
    (tmp_path / "station_ids_derived.csv").write_text(derived, "utf-8")
    assert load_reference(tmp_path).codes_by_id == {1: "100", 2: "200"}


def test_the_committed_tables_are_what_the_recording_gives(tmp_path: Path) -> None:
    if not (SHARED / "opendata-history").is_dir():
        pytest.skip(f"the whole recording is not at {SHARED} (set VELIB_SHARED_DATA)")
    derivation = build_reference_tables(SHARED, tmp_path)
    for name in ("station_ids.csv", "station_communes.csv", "station_ids_derived.csv"):
        assert (tmp_path / name).read_bytes() == (REFERENCE / name).read_bytes(), name
    assert len(derivation.derived) == 35
    assert sum(r.rows for r in derivation.derived) == 10_873
    assert [(u.station_id, u.rows) for u in derivation.unmapped] == [
        (102290754, 132),
        (2616300654, 2),
    ]
