"""velib compare says when each side was taken and compares availability like with like.

Real recorded data only: the two bundled GBFS snapshots and the bundled open-data
sample (Thursday 12 and Saturday 14 May 2022). Expected times, hours and counts
are worked out here from the raw files themselves (the GBFS ``lastUpdatedOther``,
the UTC time in each open-data file name), not through pipeline.compare.when.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from pipeline.compare.job import Side, compare
from pipeline.compare.when import Timing, hour_ranges, select
from pipeline.ingest.changes import ChangeDetector
from pipeline.research import tables
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "raw"
GBFS_A, GBFS_B = RAW / "gbfs" / "2024-11-19", RAW / "gbfs" / "2025-10-18"
HISTORY = RAW / "opendata-history"
PARIS = ZoneInfo("Europe/Paris")
THU, SAT = date(2022, 5, 12), date(2022, 5, 14)


def _feed_time(folder: Path) -> datetime:
    status = json.loads((folder / "station_status.json").read_text(encoding="utf-8"))
    return datetime.fromtimestamp(status["lastUpdatedOther"], UTC)


def _file_time(path: Path) -> datetime:
    """``velib-opendata-2022-05-12T102218Z.csv.gz`` -> 2022-05-12 10:22:18 UTC."""
    stamp = path.name.removeprefix("velib-opendata-").removesuffix(".csv.gz")
    return datetime.strptime(stamp, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)


def _history_files(day: date) -> list[Path]:
    """The sample's files of one Paris date (what ``--a-dates``/``--b-dates`` select)."""
    files = sorted(HISTORY.glob("*.csv.gz"))
    return [p for p in files if _file_time(p).astimezone(PARIS).date() == day]


@pytest.fixture(scope="module")
def gbfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("gbfs")
    summary = compare(Side(str(GBFS_A)), Side(str(GBFS_B)), out / "r", metrics_path=out / "m.json")
    report = (out / "r" / "report.md").read_text(encoding="utf-8")
    return summary, report, json.loads((out / "m.json").read_text()), out / "r"


@pytest.fixture(scope="module")
def thu_sat(tmp_path_factory):
    out = tmp_path_factory.mktemp("span")
    summary = compare(
        Side(str(HISTORY), dates=(THU, THU)),
        Side(str(HISTORY), dates=(SAT, SAT)),
        out / "r",
        metrics_path=out / "m.json",
    )
    report = (out / "r" / "report.md").read_text(encoding="utf-8")
    return summary, report, json.loads((out / "m.json").read_text())


# --- two single instants: the bundled GBFS pair --------------------------------------


def test_gbfs_report_states_both_times_and_weekdays(gbfs):
    summary, report, metrics, _ = gbfs
    a, b = _feed_time(GBFS_A), _feed_time(GBFS_B)
    pa, pb = a.astimezone(PARIS), b.astimezone(PARIS)
    assert (pa.strftime("%a %H:%M"), pb.strftime("%a %H:%M")) == ("Tue 09:22", "Sat 11:09")
    for text in (
        f"| Paris time | Tue {pa:%Y-%m-%d %H:%M} CET | Sat {pb:%Y-%m-%d %H:%M} CEST |",
        f"| UTC | Tue {a:%Y-%m-%d %H:%M} UTC | Sat {b:%Y-%m-%d %H:%M} UTC |",
        "| snapshots | 1 snapshot | 1 snapshot |",
    ):
        assert text in report
    assert metrics["a_utc"] == a.strftime("%Y-%m-%dT%H:%M:%SZ") == "2024-11-19T08:22:18Z"
    assert metrics["b_utc"] == b.strftime("%Y-%m-%dT%H:%M:%SZ") == "2025-10-18T09:09:16Z"
    assert metrics["a_paris"] == "Tue 2024-11-19 09:22 CET"
    assert metrics["b_paris"] == "Sat 2025-10-18 11:09 CEST"
    assert (metrics["a_snapshots"], metrics["b_snapshots"]) == (1, 1)


def test_gbfs_report_warns_weekday_morning_against_saturday(gbfs):
    summary, report, metrics, _ = gbfs
    warning = next(line for line in report.splitlines() if "Not like with like" in line)
    assert "a weekday morning (Tuesday 09:22) against a Saturday morning (11:09)" in warning
    assert "1 h 47 min apart" in warning and "a weekday against a weekend day" in warning
    assert "not a change of the network" in warning
    # The warning comes before the availability table it is about.
    assert report.index(warning) < report.index("## Availability per area")
    assert metrics["like_with_like"] is False and not summary.selection.like_with_like


def test_metrics_are_few_flat_keys(gbfs):
    _, _, metrics, _ = gbfs
    assert all(not isinstance(v, dict | list) for v in metrics.values())
    assert set(metrics) == {
        *(f"{s}_{k}" for s in "ab" for k in ("utc", "paris", "snapshots")),
        *(f"stations_{k}" for k in ("a", "b", "added", "removed", "renumbered", "renamed")),
        "stations_moved",
        "stations_capacity_changed",
        "like_with_like",
    }


def test_summary_line_says_when(gbfs):
    from pipeline.compare.job import summary_line

    line = summary_line(gbfs[0])
    assert "\n" not in line
    assert "A Tue 2024-11-19 09:22 CET (1 snapshot) vs B Sat 2025-10-18 11:09 CEST" in line
    assert "added=38 removed=28 renumbered=11" in line and "NOT like with like" in line


def test_two_snapshots_minutes_apart_are_like_with_like(tmp_path):
    first, second = _history_files(THU)[:2]
    gap = _file_time(second) - _file_time(first)
    assert gap.total_seconds() < 3600  # 12:22 and 12:27 Paris, same Thursday
    summary = compare(Side(str(first)), Side(str(second)), tmp_path / "r")
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert summary.selection.rule == "instants" and summary.selection.like_with_like
    assert "Not like with like" not in report
    assert (
        "Each side is one snapshot: A Thu 2022-05-12 12:22 CEST, B Thu 2022-05-12 12:27" in report
    )


# --- time spans: Thursday against Saturday of the bundled open-data sample -------------


def _paris_hours(files: list[Path]) -> list[int]:
    return [_file_time(p).astimezone(PARIS).hour for p in files]


def test_span_keeps_the_same_paris_hours_and_says_how(thu_sat):
    summary, report, metrics = thu_sat
    hours_a, hours_b = _paris_hours(_history_files(THU)), _paris_hours(_history_files(SAT))
    common = set(hours_a) & set(hours_b)
    kept_a, kept_b = sum(h in common for h in hours_a), sum(h in common for h in hours_b)
    assert (len(hours_a), len(hours_b)) == (22, 19)
    assert (kept_a, kept_b) == (21, 11)  # Saturday's early morning and Thursday 14:xx go
    assert summary.selection.kept == (kept_a, kept_b)
    assert {h for _, h in summary.selection.cells} == common
    assert (metrics["a_snapshots"], metrics["b_snapshots"]) == (22, 19)
    how = next(line for line in report.splitlines() if "Kept: A" in line)
    assert f"Kept: A {kept_a} of 22 snapshots, B {kept_b} of 19." in how
    assert "12:00–13:59, 15:00–17:59, 19:00–23:59 (Paris time)" in how
    assert hour_ranges(sorted(common)) == "12:00–13:59, 15:00–17:59, 19:00–23:59"


def test_span_report_states_spans_in_both_zones(thu_sat):
    _, report, metrics = thu_sat
    thu, sat = _history_files(THU), _history_files(SAT)
    a0, a1 = _file_time(thu[0]), _file_time(thu[-1])
    assert metrics["a_utc"] == f"{a0:%Y-%m-%dT%H:%M:%SZ}/{a1:%Y-%m-%dT%H:%M:%SZ}"
    # --a-dates are Paris dates: Thursday 22:40 and 23:39 UTC are Friday in Paris, not kept.
    assert metrics["a_paris"] == "Thu 2022-05-12 12:22 CEST – Thu 2022-05-12 23:35 CEST"
    assert all(_file_time(p).astimezone(PARIS).date() == THU for p in thu)
    assert "velib-opendata-2022-05-12T233916Z.csv.gz" not in {p.name for p in thu}
    b0 = _file_time(sat[0]).astimezone(PARIS)
    assert metrics["b_paris"] == f"Sat {b0:%Y-%m-%d %H:%M} CEST – Sat 2022-05-14 23:35 CEST"
    assert "| snapshots | 22 snapshots over 11 h 13 min | 19 snapshots over 18 h 41 min |" in report


def test_span_without_a_common_day_type_warns(thu_sat):
    summary, report, _ = thu_sat
    assert summary.selection.rule == "hours"
    warning = next(line for line in report.splitlines() if "Not like with like" in line)
    assert "A holds Thursday, B holds Saturday (Paris calendar)" in warning


@pytest.mark.slow  # reads and compares the sample again (about 10 s)
def test_span_dropped_snapshots_do_not_count(thu_sat, tmp_path):
    """B reduced by hand to its kept snapshots gives the very same availability."""
    summary, _, _ = thu_sat
    common = {h for _, h in summary.selection.cells}
    folder = tmp_path / "kept"
    folder.mkdir()
    for path in _history_files(SAT):
        if _file_time(path).astimezone(PARIS).hour in common:
            shutil.copy(path, folder / path.name)
    assert len(list(folder.iterdir())) == summary.selection.kept[1] == 11
    by_hand = compare(Side(str(HISTORY), dates=(THU, THU)), Side(str(folder)), tmp_path / "r")
    assert by_hand.network == summary.network
    # ...and the whole Saturday, early morning included, would have given other numbers.
    saturday = Side(str(HISTORY), dates=(SAT, SAT))
    whole = compare(saturday, saturday, tmp_path / "r2")
    assert whole.selection.kept == (19, 19)
    occupancy = summary.network["occupancy_mean"][1]
    assert abs(whole.network["occupancy_mean"][0] - occupancy) > 1e-3


def test_each_hour_weighs_the_same_on_both_sides(thu_sat):
    summary, _, _ = thu_sat
    for weights in summary.selection.weights:
        per_hour = weights.groupby(weights.index.tz_convert(PARIS).hour).sum()
        assert per_hour.to_numpy() == pytest.approx(1.0)
        assert set(per_hour.index) == {h for _, h in summary.selection.cells}
    # Thursday 12:22, 12:27 and 12:56 share their hour: a third of a weight each.
    noon = [p for p in _history_files(THU) if _file_time(p).astimezone(PARIS).hour == 12]
    assert len(noon) == 3
    thursday = summary.selection.weights[0]
    assert thursday[thursday.index.tz_convert(PARIS).hour == 12].tolist() == [1 / 3] * 3


def test_two_weekdays_keep_day_types_and_need_no_warning():
    """Cells by (day type, hour): Thursday's own snapshots against themselves, shifted."""
    thu = [pd.Timestamp(_file_time(p)) for p in _history_files(THU)]
    a, b = Timing(pd.DatetimeIndex(thu[:12])), Timing(pd.DatetimeIndex(thu[6:]))
    sel = select(a, b)
    assert sel.rule == "hours and day types" and sel.like_with_like
    assert {kind for kind, _ in sel.cells} == {"weekday"}
    shared = {t.astimezone(PARIS).hour for t in thu[:12]} & {
        t.astimezone(PARIS).hour for t in thu[6:]
    }
    assert {h for _, h in sel.cells} == shared


# --- a change log gives what the snapshots give --------------------------------------


@pytest.mark.slow  # reads and compares the sample again (about 10 s)
def test_stream_change_log_reads_like_the_raw_snapshots(tmp_path):
    """The stream keeps changes plus hourly heartbeats; as-of states restore the rest."""
    on_thursday = lambda t: t.astimezone(PARIS).date() == THU  # noqa: E731 - a Paris date
    records = [r for s in read_recorded(HISTORY, keep=on_thursday) for r in s.records]
    changes = [r for r, _ in ChangeDetector(heartbeat_s=3600).process(records)]
    assert len(changes) < 0.9 * len(records)
    log = tables.status_frame(changes)
    tables.write_status_parquet(log, tmp_path / "processed")
    summary = compare(
        Side(str(HISTORY), dates=(THU, THU)), Side(str(tmp_path / "processed")), tmp_path / "r"
    )
    assert summary.a.timing.n == summary.b.timing.n == 22
    for name, (raw, from_log) in summary.network.items():
        assert from_log == pytest.approx(raw, rel=1e-12), name
    # A plain mean over the change log's records would not have matched.
    raw_empty = tables.with_flags(tables.status_frame(records))["empty"].mean()
    log_empty = tables.with_flags(log)["empty"].mean()
    assert abs(log_empty - raw_empty) > 1e-3


def test_file_names_hold_the_snapshot_time():
    """The test's own reading of the file names agrees with the parser's observed_at."""
    for path in (_history_files(THU)[0], _history_files(SAT)[-1]):
        assert next(read_recorded(path)).observed_at == _file_time(path)
