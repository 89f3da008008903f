"""Change detection on the real seed table and a real slice of the open-data history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.ingest.changes import ChangeDetector, Decision
from pipeline.ingest.job import emitted_records
from pipeline.sources.recorded import read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def records_of(path: Path):
    return [r for snap in read_recorded(path) for r in snap.records]


def independent_changes(records) -> int:
    """Count, per station, the first state plus every differing next state."""
    last: dict[str, tuple] = {}
    count = 0
    for r in records:
        state = (
            r.capacity,
            r.bikes_available,
            r.mechanical_available,
            r.ebike_available,
            r.docks_available,
            r.is_installed,
            r.is_renting,
            r.is_returning,
        )
        if last.get(r.station_code) != state:
            count += 1
            last[r.station_code] = state
    return count


def test_seed_table_emits_at_most_its_43_distinct_rows():
    snaps = list(read_recorded(FIX / "seed"))
    records = [r for s in snaps for r in s.records]
    emitted = emitted_records(records)
    # 310 rows, 43 distinct: repeats of an earlier poll are dropped before detection
    assert len(records) == 43
    assert sum(s.oddities["repeated_rows_dropped"] for s in snaps) == 310 - 43
    assert len(emitted) == independent_changes(records) <= 43
    # counts changed while duedate (last_reported) stayed the same: still emitted
    by_station = {}
    for r in emitted:
        by_station.setdefault((r.station_code, r.last_reported), []).append(r)
    assert any(len(v) > 1 for v in by_station.values())


def test_history_emits_exactly_the_state_changes():
    records = records_of(FIX / "history")
    assert len(records) == 150
    emitted = emitted_records(records)
    assert len(emitted) == independent_changes(records)
    assert 25 < len(emitted) < 150


def test_same_snapshot_twice_emits_nothing_the_second_time():
    snap = next(iter(read_recorded(FIX / "gbfs/2024-11-19")))
    detector = ChangeDetector(heartbeat_s=3600)
    assert len(detector.process(snap.records)) == 20
    assert detector.process(snap.records) == []


def test_new_timestamp_alone_is_not_a_change():
    snap = next(iter(read_recorded(FIX / "gbfs/2024-11-19")))
    detector = ChangeDetector()
    detector.process(snap.records)
    r = snap.records[0]
    later = r.replace(last_reported=r.observed_at, observed_at=r.observed_at.replace(year=2025))
    assert detector.decide(later) is Decision.UNCHANGED
    assert detector.decide(later.replace(bikes_available=r.bikes_available + 1)) is Decision.CHANGED


def test_heartbeat_reemits_after_observed_interval():
    snaps = list(read_recorded(FIX / "history"))
    span = (snaps[-1].observed_at - snaps[0].observed_at).total_seconds()
    records = [r for s in snaps for r in s.records]
    with_hb = ChangeDetector(heartbeat_s=3600).process(records)
    without = ChangeDetector(heartbeat_s=0).process(records)
    assert span > 3600
    assert all(d is not Decision.HEARTBEAT for _, d in without)
    assert any(d is Decision.HEARTBEAT for _, d in with_hb)
    # no station goes more than an hour of observed time (plus one snapshot gap) unemitted
    last = {}
    gap = max(
        (b.observed_at - a.observed_at).total_seconds()
        for a, b in zip(snaps, snaps[1:], strict=False)
    )
    for r, _ in with_hb:
        if r.station_code in last:
            assert (r.observed_at - last[r.station_code]).total_seconds() <= 3600 + gap
        last[r.station_code] = r.observed_at


def test_restored_detector_reemits_nothing():
    records = records_of(FIX / "history")
    emitted = emitted_records(records)
    restored = ChangeDetector()
    restored.restore(emitted)
    last_snapshot = list(read_recorded(FIX / "history"))[-1]
    assert restored.process(last_snapshot.records) == []


def test_a_second_state_at_the_same_instant_waits_for_the_next_observation():
    # The soak's case: a station added by station_information while the status clock
    # stood still. The first ingest's information did not list it (no capacity, no
    # name); a restarted ingest fetched the new information and polled the same feed time.
    snap = next(iter(read_recorded(FIX / "gbfs/2024-11-19")))
    described = snap.records[0]
    undescribed = described.replace(name=None, lat=None, lon=None, capacity=None)
    detector = ChangeDetector(heartbeat_s=3600)
    assert detector.process([undescribed]) == [(undescribed, Decision.CHANGED)]
    assert detector.decide(described) is Decision.NOT_LATER
    assert detector.process([described]) == [] and detector.not_later == 1
    assert detector.decide(undescribed) is Decision.UNCHANGED  # the same state again
    # the feed's clock moved: the station's next observation carries its capacity
    later = described.replace(observed_at=described.observed_at + timedelta(minutes=1))
    assert detector.process([later]) == [(later, Decision.CHANGED)]
    assert detector.last_state(later.station_code) == described.state


def test_a_record_older_than_the_stations_last_emission_is_not_emitted():
    snap = next(iter(read_recorded(FIX / "gbfs/2024-11-19")))
    r = snap.records[0]
    detector = ChangeDetector()
    detector.process([r])
    older = r.replace(observed_at=r.observed_at - timedelta(minutes=5), bikes_available=0)
    assert detector.decide(older) is Decision.NOT_LATER
