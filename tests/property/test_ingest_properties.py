"""Properties of normalization and change detection on real-shaped GBFS payloads."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.changes import ChangeDetector
from pipeline.record import STATE_FIELDS, from_json, to_json
from pipeline.sources.normalize import Reference
from pipeline.sources.recorded import parse_gbfs

FEED_TIME = 1732004538  # lastUpdatedOther of the 2024-11-19 recording
REF = Reference()

codes = st.one_of(
    st.integers(1001, 20999).map(str),  # Paris-like codes
    st.integers(21001, 99999).map(str),
    st.just("31024_relais"),
)
counts = st.integers(0, 80)
flags = st.sampled_from([0, 1])


@st.composite
def station(draw, code=None):
    mechanical, ebike = draw(counts), draw(counts)
    return {
        "station_id": draw(st.integers(1, 2 * 10**10)),  # exceeds int32 like the real feed
        "stationCode": code or draw(codes),
        "num_bikes_available": mechanical + ebike,
        "numBikesAvailable": mechanical + ebike,
        "num_bikes_available_types": [{"mechanical": mechanical}, {"ebike": ebike}],
        "num_docks_available": draw(counts),
        "numDocksAvailable": 0,
        "is_installed": draw(flags),
        "is_returning": draw(flags),
        "is_renting": draw(flags),
        "last_reported": draw(st.integers(1514764800, FEED_TIME)),  # back to 2018, real
    }


@st.composite
def status_payload(draw):
    stations = draw(st.lists(station(), max_size=15, unique_by=lambda s: s["stationCode"]))
    return {"lastUpdatedOther": FEED_TIME, "ttl": 3600, "data": {"stations": stations}}


def info_for(status, capacity=35):
    stations = [
        {
            "station_id": s["station_id"],
            "stationCode": s["stationCode"],
            "name": f"S {i}",
            "lat": 48.85,
            "lon": 2.35,
            "capacity": capacity,
        }
        for i, s in enumerate(status["data"]["stations"])
    ]
    return {"lastUpdatedOther": FEED_TIME, "ttl": 3600, "data": {"stations": stations}}


def parse(status, observed=None):
    return parse_gbfs(info_for(status), status, origin="prop", observed_at=observed, ref=REF)


@given(status_payload())
def test_normalized_records_round_trip_through_json(status):
    snap = parse(status)
    assert len(snap.records) == len(status["data"]["stations"]) and not snap.rejects
    for record in snap.records:
        assert from_json(to_json(record)) == record
        assert record.observed_at == datetime.fromtimestamp(FEED_TIME, tz=UTC)


@given(status_payload(), st.sampled_from([0, 60, 3600]))
def test_replaying_the_same_snapshot_twice_emits_nothing_the_second_time(status, heartbeat):
    snap = parse(status)
    detector = ChangeDetector(heartbeat)
    assert len(detector.process(snap.records)) == len(snap.records)
    assert detector.process(snap.records) == []


@st.composite
def history(draw):
    """A few stations polled several times; each poll may change some of them."""
    codes_ = draw(st.lists(codes, min_size=1, max_size=5, unique=True))
    base = {c: draw(station(code=c)) for c in codes_}
    polls = []
    for _ in range(draw(st.integers(1, 8))):
        poll = []
        for c in draw(st.permutations(codes_)):
            if draw(st.booleans()):
                base[c] = {
                    **base[c],
                    "num_docks_available": draw(counts),
                    "is_renting": draw(flags),
                }
            if draw(st.integers(0, 4)):  # stations sometimes missing from a poll
                poll.append(dict(base[c]))
        polls.append(poll)
    return polls


@given(history())
def test_emitted_count_equals_independently_counted_state_changes(polls):
    detector = ChangeDetector(0)
    emitted = 0
    last: dict[str, tuple] = {}
    expected = 0
    for i, poll in enumerate(polls):
        status = {"lastUpdatedOther": FEED_TIME + 60 * i, "data": {"stations": poll}}
        emitted += len(detector.process(parse(status).records))
        for s in poll:  # the raw fields that make the state, compared directly
            state = (
                s["num_bikes_available_types"][0]["mechanical"],
                s["num_bikes_available_types"][1]["ebike"],
                s["num_docks_available"],
                s["is_installed"],
                s["is_renting"],
                s["is_returning"],
            )
            if last.get(s["stationCode"]) != state:
                expected += 1
                last[s["stationCode"]] = state
    assert emitted == expected


@given(history())
def test_per_station_emissions_do_not_depend_on_order_within_a_poll(polls):
    def run(reverse):
        detector = ChangeDetector(0)
        out: dict[str, list] = {}
        for i, poll in enumerate(polls):
            status = {
                "lastUpdatedOther": FEED_TIME + 60 * i,
                "data": {"stations": poll[::-1] if reverse else poll},
            }
            for r, _ in detector.process(parse(status).records):
                out.setdefault(r.station_code, []).append(
                    tuple(getattr(r, f) for f in STATE_FIELDS)
                )
        return out

    assert run(False) == run(True)
