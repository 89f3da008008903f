"""The ingest loop's pure parts: dead-letter rendering, emitted records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.ingest.job import (
    IngestSummary,
    dead_letter_key,
    dead_letter_value,
    emitted_records,
    flagged_lines,
)
from pipeline.record import StationRecord
from pipeline.sources.normalize import Rejection
from pipeline.sources.recorded import Snapshot, read_recorded
from pipeline.sources.sequence import BACKWARDS, PARTIAL

FIX = Path(__file__).resolve().parents[2] / "fixtures"
T0 = datetime(2022, 5, 12, 12, 0, tzinfo=UTC)
REAL = next(r for s in read_recorded(FIX / "history") for r in s.records)


def make_record(code: str, at: datetime, bikes: int | None = None) -> StationRecord:
    """A real recorded station, moved to ``at`` (and given ``bikes`` e-bikes more or less)."""
    r = REAL.replace(station_code=code, observed_at=at, last_reported=at)
    if bikes is None:
        return r
    return r.replace(
        bikes_available=bikes + r.mechanical_available,
        ebike_available=bikes,
    )


def snap(minutes: float, source: str = "gbfs", records: bool = True) -> Snapshot:
    at = T0 + timedelta(minutes=minutes)
    rows = [make_record("1001", at)] if records else []
    rejects = [] if records else [Rejection("HTTP 502", "<html>", "poll")]
    return Snapshot(at, source, f"poll@{minutes}", rows, rejects)


def test_dead_letter_value_carries_reason_origin_and_key() -> None:
    rejection = Rejection("negative bikes_available (-1)", {"stationCode": "16107"}, "f.json")
    value = json.loads(dead_letter_value(rejection, "gbfs", T0))
    assert value == {
        "reason": "negative bikes_available (-1)",
        "origin": "f.json",
        "source": "gbfs",
        "observed_at": "2022-05-12T12:00:00Z",
        "raw": {"stationCode": "16107"},
    }
    assert dead_letter_key(rejection.raw) == "16107"
    assert dead_letter_key("<html>") is None


def test_emitted_records_drop_repeats_and_keep_changes() -> None:
    a = make_record("1001", T0, bikes=3)
    same = make_record("1001", T0 + timedelta(minutes=1), bikes=3)
    other = make_record("1001", T0 + timedelta(minutes=2), bikes=4)
    assert emitted_records([a, same, other]) == [a, other]


def test_the_summary_line_counts_rereads_failed_polls_and_flagged_answers() -> None:
    summary = IngestSummary(snapshots=14, polls=8, polls_failed=2, poll_rereads=6)
    summary.reread_kinds.update({"identical": 4, "frozen": 2})
    summary.oddities.update({BACKWARDS: 1, PARTIAL: 2, "capacity_zero": 3})
    line = summary.line()
    assert line.endswith(
        "polls=8 (failed=2) rereads=6 (frozen=2 identical=4) backwards=1 partial=2"
    )
    assert IngestSummary().line().endswith("polls=0 (failed=0) rereads=0 backwards=0 partial=0")


def test_each_flag_says_what_it_counts_and_out_of_how_many() -> None:
    summary = IngestSummary()
    mismatched = 0
    for snapshot in read_recorded(FIX / "history"):  # real answers: counted as _records does
        summary.snapshots += 1
        summary.seen += len(snapshot.records)
        summary.oddities.update(snapshot.oddities)
        mismatched += sum(
            r.capacity not in (None, 0) and r.bikes_available + r.docks_available != r.capacity
            for r in snapshot.records
        )
    lines = flagged_lines(summary)
    first = lines[0]  # the most frequent flag first
    assert 0 < mismatched < summary.seen
    share = f"{100 * mismatched / summary.seen:.1f} %"
    assert first == (
        f"flagged, kept: {mismatched:,} of {summary.seen:,} station records ({share}): "
        "bikes + free docks differ from capacity (bikes under repair, broken docks: real)"
    )
    assert all(line.startswith("flagged, kept: ") and " of " in line for line in lines)
    assert not any("=" in line for line in lines)  # no bare key=count
    summary.oddities.update({BACKWARDS: 1})
    assert f"1 of {summary.snapshots} answers (" in "\n".join(flagged_lines(summary))
