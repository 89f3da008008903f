"""velib compare and the research readers/writers, on real snapshot pairs.

Expected station differences are computed here straight from the raw GBFS JSON
(station codes, capacities, coordinates), not through pipeline.sources.recorded.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline import cli
from pipeline.compare.job import Side, compare, parse_dates, repair_text
from pipeline.research import tables
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "raw"
GBFS_A, GBFS_B = RAW / "gbfs" / "2024-11-19", RAW / "gbfs" / "2025-10-18"


def _info(folder: Path) -> dict[str, dict]:
    data = json.loads((folder / "station_information.json").read_text(encoding="utf-8"))
    return {s["stationCode"]: s for s in data["data"]["stations"]}


def _metres(a: dict, b: dict) -> float:
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def gbfs_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    summary = compare(
        Side(str(GBFS_A)), Side(str(GBFS_B)), out / "report", metrics_path=out / "m.json"
    )
    changes = pd.read_csv(
        out / "report" / "stations.csv", dtype={"station_code": str, "new_code": str}
    )
    return summary, changes, out


def _codes(changes: pd.DataFrame, kind: str) -> set[str]:
    return set(changes.loc[changes["change"] == kind, "station_code"])


def _renumbered_by_hand(a: dict[str, dict], b: dict[str, dict], within_m: float):
    """Removed and added codes of the raw JSON paired nearest first, each code once."""
    pairs = sorted(
        (_metres(a[old], b[new]), old, new)
        for old in set(a) - set(b)
        for new in set(b) - set(a)
        if _metres(a[old], b[new]) <= within_m
    )
    used: set[str] = set()
    out = {}
    for metres, old, new in pairs:
        if old not in used and new not in used:
            used |= {old, new}
            out[old] = (new, metres)
    return out


def test_gbfs_networks_added_removed_renumbered_match_the_raw_json(gbfs_report):
    summary, changes, _ = gbfs_report
    a, b = _info(GBFS_A), _info(GBFS_B)
    renumbered = _renumbered_by_hand(a, b, 50)
    assert len(renumbered) == 11 and renumbered["4005"][0] == "4201"
    assert _codes(changes, "added") == set(b) - set(a) - {n for n, _ in renumbered.values()}
    assert _codes(changes, "removed") == set(a) - set(b) - set(renumbered)
    rows = changes[changes["change"] == "renumbered"].set_index("station_code")
    assert {c: r.new_code for c, r in rows.iterrows()} == {o: n for o, (n, _) in renumbered.items()}
    quai = rows.loc["4005"]  # the example: the same station, rebuilt under a new code
    assert (quai.name_a, quai.name_b) == ("Quai des Célestins - Henri IV",) * 2
    assert quai.distance_m == pytest.approx(renumbered["4005"][1], abs=0.05) and quai.distance_m < 2
    assert summary.a.stations == len(a) == 1485
    assert summary.b.stations == len(b) == 1495
    counts = summary.changes
    assert (counts["added"], counts["removed"], counts["renumbered"]) == (38, 28, 11)


def test_renumbering_can_be_turned_off(tmp_path):
    off = compare(Side(str(GBFS_A)), Side(str(GBFS_B)), tmp_path / "r", renumber_within_m=0)
    assert (off.changes["added"], off.changes["removed"], off.changes["renumbered"]) == (49, 39, 0)


def test_no_double_encoded_name_left_in_any_output(gbfs_report):
    _, changes, out = gbfs_report
    garbled = {c for c, s in _info(GBFS_A).items() if "Ã" in s["name"]}
    listed = set(changes["station_code"]) | set(changes["new_code"].dropna())
    assert len(garbled & listed) == 51  # stations.csv held these 51 names double-encoded
    for path in (out / "report").iterdir():
        if path.suffix in (".csv", ".md"):
            text = path.read_text(encoding="utf-8")
            assert "Ã" not in text and "Â" not in text, path.name
    malraux = changes[changes["station_code"] == "1015"].iloc[0]
    assert malraux.name_a == malraux.name_b == "Place André Malraux"


def test_gbfs_capacity_and_moves_match_the_raw_json(gbfs_report):
    _, changes, _ = gbfs_report
    a, b = _info(GBFS_A), _info(GBFS_B)
    both = set(a) & set(b)
    assert _codes(changes, "capacity") == {c for c in both if a[c]["capacity"] != b[c]["capacity"]}
    assert _codes(changes, "moved") == {c for c in both if _metres(a[c], b[c]) > 50}


def test_mojibake_names_are_not_renames(gbfs_report):
    _, changes, _ = gbfs_report
    a, b = _info(GBFS_A), _info(GBFS_B)
    differing = {c for c in set(a) & set(b) if a[c]["name"] != b[c]["name"]}
    renamed = _codes(changes, "renamed")
    assert len(differing) > 400  # the 2024 file double-encodes accents
    assert renamed <= differing and len(renamed) < 20
    assert "10005" not in renamed  # 'PoissonniÃƒÂ¨re' vs 'Poissonnière'
    assert repair_text("Mairie du 10\u00c3\u0192\u00c2\u00a8me") == "Mairie du 10ème"
    assert repair_text("Suresnes - Muette \u00c3\u0192  Neuilly") == "Suresnes - Muette à Neuilly"


def test_report_files_and_deterministic_metrics(gbfs_report, tmp_path):
    summary, _, out = gbfs_report
    names = sorted(p.name for p in (out / "report").iterdir())
    # a Tuesday morning against a Saturday morning: no availability figure, and the report says why
    assert names == ["areas.csv", "report.md", "stations.csv"]
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    (why,) = [line for line in report.splitlines() if "No figure" in line]
    assert "are not like with like" in why and "Tue 2024-11-19 09:22 CET" in why
    areas = pd.read_csv(out / "report" / "areas.csv")
    assert set(areas["area_level"]) == {"network", "commune", "arrondissement"}
    assert sorted(areas.loc[areas.area_level == "arrondissement", "area"].astype(int)) == list(
        range(1, 21)
    )
    again = compare(
        Side(str(GBFS_A)), Side(str(GBFS_B)), tmp_path / "r", metrics_path=tmp_path / "m.json"
    )
    assert (tmp_path / "m.json").read_bytes() == (out / "m.json").read_bytes()
    for name in names:
        assert (tmp_path / "r" / name).read_bytes() == (out / "report" / name).read_bytes()
    assert again.network == summary.network


@pytest.mark.slow  # two comparisons of the four days, each drawn (about 10 s of CPU)
def test_like_with_like_draws_the_figure_byte_stable(tmp_path):
    raw = str(RAW / "opendata-history")
    for out in ("r1", "r2"):
        summary = compare(Side(raw), Side(raw), tmp_path / out)
    assert summary.selection.like_with_like
    figure = (tmp_path / "r1" / "areas.png").read_bytes()
    assert figure == (tmp_path / "r2" / "areas.png").read_bytes()
    report = (tmp_path / "r1" / "report.md").read_text(encoding="utf-8")
    assert "Figure: `areas.png`" in report and "No figure" not in report


def _history_pair(tmp_path: Path) -> Path:
    """One real open-data file of 2022-05-12 and one of 2022-05-14 in one folder."""
    folder = tmp_path / "history"
    folder.mkdir()
    for name in (
        "velib-opendata-2022-05-12T184647Z.csv.gz",
        "velib-opendata-2022-05-14T184253Z.csv.gz",
    ):
        shutil.copy(RAW / "opendata-history" / name, folder / name)
    return folder


def test_cli_compares_two_days_of_history(tmp_path, capsys):
    folder = _history_pair(tmp_path)
    days = {
        s.observed_at.date(): {r.station_code for r in s.records} for s in read_recorded(folder)
    }
    code = cli.main(
        [
            "compare",
            str(folder),
            str(folder),
            "--a-dates",
            "2022-05-12",
            "--b-dates",
            "2022-05-14",
            "--out",
            str(tmp_path / "out"),
            "--metrics",
            str(tmp_path / "m.json"),
        ]
    )
    assert code == 0
    assert "added=" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    a, b = days[date(2022, 5, 12)], days[date(2022, 5, 14)]
    assert metrics["stations_a"] == len(a) and metrics["stations_b"] == len(b)
    assert metrics["stations_added"] == len(b - a)
    assert metrics["stations_removed"] == len(a - b)


def test_compare_reads_processed_parquet_like_raw(tmp_path):
    folder = _history_pair(tmp_path)
    records = [r for s in read_recorded(folder) for r in s.records]
    tables.write_status_parquet(tables.status_frame(records), tmp_path / "processed")
    s1 = compare(Side(str(folder)), Side(str(tmp_path / "processed")), tmp_path / "o")
    assert s1.a.stations == s1.b.stations
    assert s1.changes["added"] == s1.changes["removed"] == 0
    occupancy = s1.network["occupancy_mean"]
    assert occupancy[1] - occupancy[0] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "nope", "also-nope"], "no such file or folder: nope"),
        (["compare", str(GBFS_A), str(GBFS_B), "--a-dates", "2022-13-01"], "bad date range"),
        (["compare", str(GBFS_A), str(GBFS_B), "--move-threshold", "-1"], "--move-threshold"),
        (["compare", str(GBFS_A), str(GBFS_B), "--b-dates", "2001-01-01"], "no station records"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path):
    code = cli.main([*argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "\n" not in err and "Traceback" not in err


def test_help_says_the_dates_are_paris_dates(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--a-dates A_DATES keep A's snapshots taken on these Paris (Europe/Paris) dates" in text
    assert "--a-dates/--b-dates are Paris dates" in text and "--renumber-within" in text


def test_parse_dates():
    assert parse_dates("2022-05-12") == (date(2022, 5, 12), date(2022, 5, 12))
    assert parse_dates("2022-05-12:2022-05-18") == (date(2022, 5, 12), date(2022, 5, 18))
    with pytest.raises(ValueError):
        parse_dates("2022-05-18:2022-05-12")


def test_writers_are_byte_stable(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {"b": 1 / 3, "a": {"y": float("nan"), "x": [0.123456789, 2]}}
    tables.write_json(data, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {
        "a": {"x": [0.1235, 2], "y": None},
        "b": 0.3333,
    }
    pngs = []
    for i in range(2):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2])
        ax.set_title("stable")
        pngs.append(tables.save_figure(fig, tmp_path / f"{i}.png").read_bytes())
    assert pngs[0] == pngs[1]


def _samples(daily_occupancy: list[float]) -> pd.DataFrame:
    """One station, one snapshot per Paris day, with the given occupancy (network level only)."""
    rows = []
    for i, occ in enumerate(daily_occupancy):
        rows.append(
            {
                "station_code": "1",
                "weight": 1.0,
                "day": date(2022, 5, 12 + i),
                "commune": None,
                "arrondissement": None,
                "bikes_available": 10 * occ,
                "mechanical_available": 0,
                "ebike_available": 0,
                "docks_available": 10 * (1 - occ),
                "occupancy": occ,
                "out_of_service": 0.0,
                "empty": 0.0,
                "full": 0.0,
            }
        )
    return pd.DataFrame(rows)


def test_b_minus_a_carries_the_standard_error_of_the_day_to_day_spread():
    from pipeline.compare.job import compare_areas

    a, b = [0.30, 0.40, 0.35], [0.38, 0.42, 0.40, 0.44]
    areas = compare_areas(_samples(a), _samples(b))
    net = areas[areas["area_level"] == "network"].iloc[0]
    assert (net.days_a, net.days_b) == (3, 4)
    assert net.occupancy_mean_delta == pytest.approx(sum(b) / 4 - sum(a) / 3)
    se = (pd.Series(a).var() / 3 + pd.Series(b).var() / 4) ** 0.5
    assert net.occupancy_mean_delta_se == pytest.approx(se)
    one_day = compare_areas(_samples(a[:1]), _samples(b))
    assert pd.isna(one_day.loc[0, "occupancy_mean_delta_se"])  # a single day: no spread
