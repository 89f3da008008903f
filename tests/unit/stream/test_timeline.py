"""The per-station state pass on small hand-written cases (batch DataFrames, one JVM).

Each case is a few records of one or two stations whose expected rows can be
worked out by hand from the definitions in the README: a record is in force
from its observed_at until the station's next record or for stale_after at
most, and window figures are over that time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from pipeline import record, vocabulary
from pipeline.poll import Poll
from pipeline.record import StationRecord
from pipeline.stream import indicators, observation, timeline
from pipeline.stream.frontier import Frontier

pytestmark = pytest.mark.spark

T0 = datetime(2022, 5, 12, 10, 0, tzinfo=UTC)
US = 1_000_000
WINDOW = 15 * 60 * US


def rec(  # noqa: PLR0913 - a hand-written record: each field a keyword of its own
    code: str,
    minute: float,
    bikes: int,
    docks: int,
    *,
    installed: bool = True,
    renting: bool = True,
    returning: bool = True,
    reported: float | None = None,
    arrondissement: int | None = 15,
) -> StationRecord:
    at = T0 + timedelta(minutes=minute)
    return StationRecord(
        station_code=code,
        station_id=None,
        name=f"station {code}",
        lat=48.84,
        lon=2.30,
        capacity=bikes + docks,
        commune="Paris" if arrondissement else "Ivry-sur-Seine",
        arrondissement=arrondissement,
        bikes_available=bikes,
        mechanical_available=bikes,
        ebike_available=0,
        docks_available=docks,
        is_installed=installed,
        is_renting=renting,
        is_returning=returning,
        last_reported=T0 + timedelta(minutes=minute if reported is None else reported),
        observed_at=at,
        source="test",
    )


def us(minute: float) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp() * US)


def sighting(minute: float, *codes: str, ok: bool = True, source: str = "test") -> Poll:
    """A poll at T0 + minute that listed ``codes`` (a failed one lists nothing)."""
    return Poll(
        source=source,
        origin=f"poll@{minute}",
        observed_at=T0 + timedelta(minutes=minute),
        polled_at=None,
        feed_time=None,
        ok=ok,
        reason=None if ok else "HTTP 502",
        stations=len(codes),
        emitted=0,
        rejected=0 if ok else 1,
        listed=tuple(sorted(codes)) if ok else (),
        disappeared=(),
    )


def frames_of(step: timeline.Step, window_seconds: float = 900.0) -> dict:
    """Every table's frame of a step by name (the window tables only when windows closed)."""
    frames = {"status": step.status, "polls": step.polls, "out_of_order": step.out_of_order}
    if step.windows is not None:
        frames["indicators_station"] = step.windows.stations
        frames["alerts"] = step.windows.alerts
        frames["indicators_area"] = indicators.area_rows(
            step.windows.stations, window_seconds, step.windows.polls
        )
    return frames


def newest_by_partition(rows: list[dict], ok_only: bool = False) -> dict[int, int]:
    """The newest observed time per partition of a batch's rows (what the stream reads first)."""
    newest: dict[int, int] = {}
    for row in rows:
        if ok_only and not row["ok"]:
            continue
        t = int(row["observed_at"].timestamp() * US)
        newest[row["partition"]] = max(newest.get(row["partition"], t), t)
    return newest


def run(spark, batches, *, until: float | None = None, stale_minutes: float = 120, polls=None):
    """Feed batches (and their polls) through timeline.advance; pandas frames of every output.

    The frontier advances as the stream's does (:class:`Frontier`, from each batch's newest
    times per partition), or to ``until`` on the last batch. ``polls``: one list of polls
    per batch (None: no poll log at all).
    """
    schemas = timeline.state_schemas()
    kept = {name: spark.createDataFrame([], schema) for name, schema in schemas.items()}
    frontier, offset = Frontier(), 0
    out: dict[str, list[pd.DataFrame]] = {}
    steps = []
    for i, batch in enumerate(batches):
        rows = []
        for r in batch:
            rows.append({**r.to_dict(), "partition": 0, "offset": offset})
            offset += 1
        frame = spark.createDataFrame(rows, timeline.state_schema())
        poll_frame, poll_rows = None, []
        if polls is not None:
            for p in polls[i]:
                poll_rows.append({**p.to_dict(), "partition": 0, "offset": offset})
                offset += 1
            poll_frame = spark.createDataFrame(poll_rows, observation.batch_schema())
        last = i == len(batches) - 1
        after = frontier.advance(
            newest_by_partition(rows),
            newest_by_partition(poll_rows, ok_only=True),
            WINDOW,
            hi_us=us(until) if until is not None and last else None,
        )
        step = timeline.advance(
            kept,
            frame,
            poll_frame,
            lo_us=frontier.complete_until_us,
            hi_us=after.complete_until_us,
            window_us=WINDOW,
            stale_after_us=int(stale_minutes * 60 * US),
        )
        for name, df in frames_of(step).items():
            out.setdefault(name, []).append(df.toPandas())
        kept = {n: spark.createDataFrame(f.collect(), schemas[n]) for n, f in step.kept.items()}
        frontier = after
        late = int((~out["out_of_order"][-1]["is_poll"]).sum())  # records the timeline left out
        steps.append(
            SimpleNamespace(complete_until_us=after.complete_until_us, kept=kept, late=late)
        )
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}
    return tables, steps


def station(tables, code: str) -> pd.DataFrame:
    df = tables["indicators_station"]
    df = df[df["station_code"] == code].copy()
    df["minute"] = (pd.to_datetime(df["window_start"], utc=True) - T0).dt.total_seconds() / 60
    return df.set_index("minute").sort_index()


def test_a_state_spans_every_window_it_is_in_force_in(spark):
    tables, _ = run(spark, [[rec("A", 5, 4, 6)]], until=60)
    a = station(tables, "A")
    assert list(a.index) == [0, 15, 30, 45]
    assert list(a["seconds_known"]) == [600, 900, 900, 900]
    assert list(a["n_records"]) == [1, 0, 0, 0]
    assert set(a["bikes_mean"]) == {4.0} and set(a["occupancy_mean"]) == {0.4}
    assert list(tables["indicators_station"].columns) == list(vocabulary.names(vocabulary.STATION))


def test_a_change_exactly_at_a_boundary_belongs_to_the_next_window(spark):
    tables, _ = run(spark, [[rec("A", 0, 0, 10), rec("A", 15, 6, 4)]], until=30)
    a = station(tables, "A")
    assert a.loc[0, "empty_share"] == 1.0 and a.loc[0, "bikes_max"] == 0
    assert bool(a.loc[0, "empty_at_end"]) is True  # in force just before 10:15
    assert a.loc[15, "bikes_min"] == 6 and a.loc[15, "empty_share"] == 0.0
    assert list(a["n_records"]) == [1, 1]


def test_time_weighting_not_report_counting(spark):
    # Empty for 14 minutes, then one bike for 1 minute: 14/15 of the window empty (the
    # report-counting shares of old said 50 %).
    tables, _ = run(spark, [[rec("A", 0, 0, 10), rec("A", 14, 1, 9)]], until=15)
    a = station(tables, "A").loc[0]
    assert a["empty_share"] == pytest.approx(14 / 15)
    assert a["bikes_mean"] == pytest.approx(1 / 15)
    assert a["n_records"] == 2 and a["n_changes"] == 2


def test_stale_cut_off_and_return(spark):
    # polls at 0, 40 (A not in it) and 70: A's record stops being in force at 30, the
    # poll at 40 did not renew it (stale), the one at 70 brought it back
    polls = [sighting(0, "A"), sighting(40, "B"), sighting(70, "A")]
    records = [rec("A", 0, 0, 10), rec("A", 70, 3, 7)]
    tables, _ = run(spark, [records], until=90, stale_minutes=30, polls=[polls])
    a = station(tables, "A")
    assert list(a.index) == [0, 15, 60, 75]  # unknown from 10:30 to 11:10
    assert list(a["seconds_known"]) == [900, 900, 300, 900]
    assert bool(a.loc[15, "empty_at_end"]) is True  # still in force just before 10:30
    got = tables["alerts"].sort_values("at")
    assert list(zip(got["alert"], got["previous"], got["condition"], strict=True)) == [
        ("empty", None, "empty"),
        ("stale", "empty", "stale"),
        ("back", "stale", "normal"),
    ]
    assert list(pd.to_datetime(got["at"], utc=True)) == [
        T0,
        T0 + timedelta(minutes=40),
        T0 + timedelta(minutes=70),
    ]


def test_a_station_never_seen_again_goes_stale_once_the_frontier_passes(spark):
    records = [[rec("A", 0, 2, 8), rec("B", 0, 5, 5)], [rec("B", 200, 5, 5)]]
    polls = [[sighting(0, "A", "B")], [sighting(130, "C"), sighting(200, "B")]]
    tables, steps = run(spark, records, polls=polls)
    stale = tables["alerts"][tables["alerts"]["alert"] == "stale"]
    assert sorted(stale["station_code"]) == ["A", "B"]  # B too: the poll at 130 left it out
    assert set(pd.to_datetime(stale["at"], utc=True)) == {T0 + timedelta(minutes=130)}
    assert steps[-1].complete_until_us == us(195)  # the frontier, floored to the window


def test_zero_plus_zero_is_left_out_of_occupancy(spark):
    tables, _ = run(spark, [[rec("A", 0, 0, 0), rec("A", 5, 5, 5)]], until=15)
    a = station(tables, "A").loc[0]
    assert a["occupancy_seconds"] == 600
    assert a["occupancy_mean"] == 0.5
    assert a["empty_share"] == pytest.approx(5 / 15) and a["full_share"] == pytest.approx(5 / 15)


def test_capacity_zero_station_is_empty_and_full_and_has_no_occupancy(spark):
    tables, _ = run(spark, [[rec("Z", 0, 0, 0, arrondissement=None), rec("A", 0, 5, 5)]], until=15)
    z = station(tables, "Z").loc[0]
    assert z["empty_share"] == 1.0 and z["full_share"] == 1.0
    assert pd.isna(z["occupancy_mean"]) and z["occupancy_seconds"] == 0
    net = tables["indicators_area"].query("area_level == 'network'").iloc[0]
    assert net["occupancy_mean"] == 0.5  # only A's time has an occupancy
    assert net["stations_known"] == 2 and net["stations_empty"] == 1 and net["stations_full"] == 1


def test_two_changes_in_one_second(spark):
    first = rec("A", 0, 3, 7)
    second = first.replace(
        bikes_available=2,
        mechanical_available=2,
        docks_available=8,
        observed_at=first.observed_at + timedelta(milliseconds=400),
    )
    tables, _ = run(spark, [[first, second]], until=15)
    a = station(tables, "A").loc[0]
    assert a["bikes_min"] == 2 and a["bikes_max"] == 3 and a["n_changes"] == 2
    assert a["bikes_mean"] == pytest.approx((3 * 0.4 + 2 * 899.6) / 900)


def test_a_resent_record_is_repeated_not_counted_twice(spark):
    r = rec("A", 0, 3, 7)
    tables, steps = run(spark, [[r], [r]], until=15)
    assert len(tables["status"]) == 1
    a = station(tables, "A").loc[0]
    assert a["n_records"] == 1 and a["seconds_known"] == 900
    assert steps[1].late == 1
    assert list(tables["out_of_order"]["reason"]) == [
        "repeated: the station already has a record observed then"
    ]


def test_heartbeat_keeps_a_station_known_but_is_not_a_new_status_row(spark):
    beat = rec("A", 100, 3, 7, reported=0)  # same report and state, observed later
    tables, _ = run(spark, [[rec("A", 0, 3, 7), beat]], until=240)
    assert len(tables["status"]) == 1
    a = station(tables, "A")
    assert a["seconds_known"].sum() == 220 * 60  # 100 min + 120 min after the heartbeat
    assert a.loc[90, "n_records"] == 1 and a.loc[90, "n_changes"] == 0


def test_a_record_observed_before_the_complete_part_is_late(spark):
    early = [rec("A", 0, 3, 7), rec("B", 40, 1, 9)]
    tables, steps = run(spark, [early, [rec("A", 10, 0, 10)]])
    assert steps[0].complete_until_us == us(30)  # partition 0 has reached 10:40
    assert steps[1].late == 1
    assert len(tables["status"]) == 2  # the late one goes to _rejected with its reason:
    assert list(tables["out_of_order"]["reason"]) == [
        "late: observed before the part of the output already complete"
    ]


def test_batches_give_the_same_tables_as_one(spark):
    recs = [
        rec(c, m, b, 10 - b)
        for m, c, b in [
            (0, "A", 3),
            (0, "B", 0),
            (7, "A", 0),
            (16, "B", 4),
            (31, "A", 10),
            (44, "B", 4),
            (52, "A", 2),
            (61, "B", 0),
            (75, "A", 2),
            (90, "B", 1),
        ]
    ]
    one, _ = run(spark, [recs], until=90)
    split, steps = run(spark, [recs[:3], recs[3:7], recs[7:]], until=90)
    for name in ("indicators_station", "indicators_area", "alerts"):
        key = [c for c in one[name].columns if c != "date"][:4]
        a = one[name].sort_values(key, ignore_index=True)
        b = split[name].sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(a, b)
    assert all(s.kept["records"].count() <= 4 for s in steps)  # state stays small


def test_frontier_is_the_least_newest_partition_time():
    after = Frontier().advance({0: us(47), 1: us(31), 2: us(90)}, {}, WINDOW)
    assert after.complete_until_us == us(30)
    assert Frontier().advance({}, {}, WINDOW).complete_until_us is None
    # a later batch moves one partition: the least of all partitions still rules
    assert after.advance({1: us(61)}, {}, WINDOW).complete_until_us == us(45)
    # polls count once seen; the frontier never goes back
    assert after.advance({}, {0: us(20)}, WINDOW).complete_until_us == us(30)
    assert Frontier.from_json(after.to_json()) == after


def test_status_keeps_the_record_fields(spark):
    tables, _ = run(spark, [[rec("A", 0, 3, 7)]], until=15)
    assert list(tables["status"].columns) == [*record.FIELD_NAMES, "date"]


def test_output_schemas_are_the_vocabulary(spark):
    batch = spark.createDataFrame(
        [{**rec("A", 0, 0, 10).to_dict(), "partition": 0, "offset": 0}], timeline.state_schema()
    )
    step = timeline.advance(
        {}, batch, lo_us=None, hi_us=us(30), window_us=WINDOW, stale_after_us=3600 * US
    )
    frames = frames_of(step)
    stream_tables = {"indicators_station", "indicators_area", "alerts"}  # forecasts: not Spark's
    assert stream_tables <= vocabulary.TABLES.keys()
    for table in sorted(stream_tables):
        columns = vocabulary.TABLES[table]
        got = [(f.name, f.dataType) for f in frames[table].schema.fields]
        want = [(f.name, f.dataType) for f in vocabulary.spark_schema(columns).fields]
        assert got == want, table


def test_null_fields_compare_equal_between_records(spark):
    # a source without the bike-type split: unchanged states must not count as changes
    first = rec("A", 0, 3, 7).replace(mechanical_available=None, ebike_available=None)
    beat = first.replace(observed_at=first.observed_at + timedelta(minutes=20))
    tables, _ = run(spark, [[first, beat]], until=30)
    assert len(tables["status"]) == 1  # same report and state: the heartbeat adds nothing
    a = station(tables, "A")
    assert list(a["n_records"]) == [1, 1] and list(a["n_changes"]) == [1, 0]
    assert a["mechanical_mean"].isna().all() and a["bikes_mean"].eq(3.0).all()
