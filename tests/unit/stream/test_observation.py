"""What was observed behind each output, on hand-written poll sequences (small Spark frames).

Each case is a few records and the polls that saw them, with the observation
columns worked out by hand from docs/outputs.md: ``polls_seen`` counts the ok
polls of a window that listed the station, an area's ``polls`` the ok polls of
the window, and an alert's ``seen_before_at`` is the station's last poll
strictly before the change, so the change lies in (seen_before_at, at].
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from pipeline.stream import observation
from tests.unit.stream.test_timeline import T0, rec, run, sighting, station, us

pytestmark = pytest.mark.spark


def at(minute: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(minutes=minute))


def alerts(tables) -> list[tuple]:
    got = tables["alerts"].sort_values(["station_code", "at"])
    return [
        (
            r.station_code,
            r.alert,
            pd.Timestamp(r.at, tz="UTC"),
            None if pd.isna(r.seen_before_at) else pd.Timestamp(r.seen_before_at, tz="UTC"),
        )
        for r in got.itertuples()
    ]


def network(tables) -> pd.DataFrame:
    df = tables["indicators_area"].query("area_level == 'network'").copy()
    df["minute"] = (pd.to_datetime(df["window_start"], utc=True) - T0).dt.total_seconds() / 60
    return df.set_index("minute").sort_index()


def test_a_change_seen_after_a_gap_lies_anywhere_in_the_gap(spark):
    # A is normal at 0, 10 and 20, then nobody looks until 60, when A is empty.
    records = [rec("A", 0, 4, 6), rec("A", 60, 0, 10)]
    polls = [sighting(m, "A") for m in (0, 10, 20, 60)]
    tables, _ = run(spark, [records], until=75, polls=[polls])
    assert alerts(tables) == [("A", "empty", at(60), at(20))]
    a = station(tables, "A")
    assert list(a.index) == [0, 15, 30, 45, 60]
    assert list(a["polls_seen"]) == [2, 1, 0, 0, 1]  # 10:30-11:00 carried forward, not seen
    net = network(tables)
    assert list(net["polls"]) == [2, 1, 0, 0, 1]
    assert list(net["stations_seen"]) == [1, 1, 0, 0, 1]


def test_a_station_missing_from_one_poll_was_not_seen_then(spark):
    # B is left out of the poll at 10 (the file lost its row): its change at 20 may have
    # happened any time after 0, the last poll that saw it.
    records = [rec("A", 0, 4, 6), rec("B", 0, 4, 6), rec("B", 20, 0, 10)]
    polls = [sighting(0, "A", "B"), sighting(10, "A"), sighting(20, "A", "B")]
    tables, _ = run(spark, [records], until=30, polls=[polls])
    assert alerts(tables) == [("B", "empty", at(20), at(0))]
    assert list(station(tables, "A")["polls_seen"]) == [2, 1]
    assert list(station(tables, "B")["polls_seen"]) == [1, 1]
    net = network(tables)
    assert list(net["polls"]) == [2, 1] and list(net["stations_seen"]) == [2, 2]


def test_two_changes_between_polls_show_as_one(spark):
    # Between the polls at 0 and 15 the station ran empty and filled up again and then
    # full: nobody saw it. One alert, full, with the whole gap as its interval.
    records = [rec("A", 0, 4, 6), rec("A", 15, 10, 0)]
    polls = [sighting(0, "A"), sighting(15, "A")]
    tables, _ = run(spark, [records], until=30, polls=[polls])
    got = tables["alerts"]
    assert list(zip(got["alert"], got["previous"], strict=True)) == [("full", "normal")]
    assert alerts(tables) == [("A", "full", at(15), at(0))]


def test_stale_and_back_say_when_the_station_was_last_seen(spark):
    # A is seen at 0, then the polls list only B until A returns at 200 (stale after 120).
    records = [rec("A", 0, 4, 6), rec("B", 0, 5, 5), rec("B", 100, 5, 5), rec("A", 200, 4, 6)]
    polls = [sighting(0, "A", "B"), *(sighting(m, "B") for m in (50, 100, 150)), sighting(200, "A")]
    tables, _ = run(spark, [records], until=210, polls=[polls])
    got = [a for a in alerts(tables) if a[0] == "A"]
    # stale at the first poll past 0 + 120 that did not renew A (150), not at 120
    assert got == [("A", "stale", at(150), at(0)), ("A", "back", at(200), at(0))]


def test_a_station_never_listed_has_no_seen_before(spark):
    tables, _ = run(spark, [[rec("A", 0, 0, 10)]], until=15, polls=[[sighting(0, "B")]])
    assert alerts(tables) == [("A", "empty", at(0), None)]
    assert list(station(tables, "A")["polls_seen"]) == [0]


def test_failed_polls_see_nothing_and_are_not_counted(spark):
    polls = [sighting(0, "A"), sighting(5, ok=False), sighting(10, "A")]
    tables, _ = run(spark, [[rec("A", 0, 4, 6)]], until=15, polls=[polls])
    assert list(station(tables, "A")["polls_seen"]) == [2]
    assert list(network(tables)["polls"]) == [2]
    written = tables["polls"].sort_values("observed_at")
    assert list(written["ok"]) == [True, False, True]  # every poll is in polls/, failed too
    assert list(written["reason"].fillna("-")) == ["-", "HTTP 502", "-"]


def test_a_repeated_poll_is_rejected_and_counted_once(spark):
    polls = [sighting(0, "A"), sighting(0, "A"), sighting(10, "A")]
    tables, steps = run(spark, [[rec("A", 0, 4, 6)], []], until=15, polls=[polls[:2], polls[2:]])
    assert list(station(tables, "A")["polls_seen"]) == [2]
    assert len(tables["polls"]) == 2
    rejected = tables["out_of_order"]
    assert list(zip(rejected["is_poll"], rejected["reason"], strict=True)) == [
        (True, "repeated poll")
    ]
    # a repeat in a later batch is recognised too, from the kept polls
    again, _ = run(spark, [[rec("A", 0, 4, 6)], []], until=15, polls=[polls[:1], polls[1:]])
    assert list(again["out_of_order"]["reason"]) == ["repeated poll"]
    assert list(station(again, "A")["polls_seen"]) == [2]


def test_an_ok_poll_observed_before_the_complete_part_is_late(spark):
    first = [rec("A", 0, 3, 7), rec("A", 40, 3, 7)]
    tables, steps = run(
        spark, [first, []], polls=[[sighting(0, "A"), sighting(40, "A")], [sighting(10, "A")]]
    )
    assert steps[0].complete_until_us == us(30)
    assert list(tables["out_of_order"]["reason"]) == [
        "late poll: observed before the part of the output already complete"
    ]
    assert len(tables["polls"]) == 2


def test_windows_wait_for_the_polls_topic(spark):
    # Records have reached 11:00 but the polls only 10:20: windows up to 10:15 are final.
    records = [rec("A", 0, 4, 6), rec("A", 60, 4, 5)]
    _, steps = run(spark, [records], polls=[[sighting(0, "A"), sighting(20, "A")]])
    assert steps[0].complete_until_us == us(15)
    _, without = run(spark, [records])  # no poll log at all: the records alone decide
    assert without[0].complete_until_us == us(60)


def test_batches_give_the_same_observation_as_one(spark):
    recs = [
        rec(c, m, b, 10 - b)
        for m, c, b in [(0, "A", 3), (0, "B", 0), (7, "A", 0), (16, "B", 4), (31, "A", 10),
                        (44, "B", 4), (52, "A", 2), (61, "B", 0), (75, "A", 2), (90, "B", 1)]
    ]  # fmt: skip
    listed = {0: "AB", 7: "A", 16: "AB", 31: "A", 44: "B", 52: "AB", 61: "AB", 75: "A", 90: "AB"}
    polls = [sighting(m, *codes) for m, codes in listed.items()]
    one, _ = run(spark, [recs], until=90, polls=[polls])
    split, steps = run(
        spark, [recs[:3], recs[3:7], recs[7:]], until=90, polls=[polls[:3], polls[3:6], polls[6:]]
    )
    for name in ("indicators_station", "indicators_area", "alerts", "polls"):
        key = [c for c in one[name].columns if c not in ("date", "listed", "disappeared")][:4]
        a = one[name].sort_values(key, ignore_index=True)
        b = split[name].sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(a, b)
    assert one["alerts"]["seen_before_at"].notna().sum() > 3
    assert all(s.kept["seen"].count() <= 2 for s in steps)  # one row per station


def test_a_station_left_out_of_polls_that_keep_coming_goes_stale_at_the_first_one_past(spark):
    # Hourly-ish polls; A is listed at 0 only, B at every poll (a heartbeat each time).
    # A's record stops being in force at 0 + 120, but the stale alert waits for a poll
    # to leave A out past that point: the one at 130, not 65 (before), not 120 (no poll).
    records = [rec("A", 0, 4, 6), *(rec("B", m, 5, 5) for m in (0, 65, 130, 195))]
    polls = [sighting(0, "A", "B"), *(sighting(m, "B") for m in (65, 130, 195))]
    tables, _ = run(spark, [records], until=210, polls=[polls])
    assert alerts(tables) == [("A", "stale", at(130), at(0))]
    assert list(station(tables, "A").index)[-1] == 105  # in force until 120, as before


def test_a_polling_gap_longer_than_stale_after_is_no_stale_and_no_back(spark):
    # The night: polls at 0 and 60, then none until 260 (over 120 min). Every station is
    # unobserved, none is stale; A is empty when polls resume: one change alert, whose
    # interval is the whole gap, and no back.
    records = [rec(c, m, 4, 6) for m in (0, 60) for c in "AB"]
    records += [rec("A", 260, 0, 10), rec("B", 260, 4, 6)]
    polls = [sighting(m, "A", "B") for m in (0, 60, 260)]
    tables, _ = run(spark, [records], until=270, polls=[polls])
    assert alerts(tables) == [("A", "empty", at(260), at(60))]
    a = station(tables, "A")
    assert 195 not in a.index and 255 in a.index  # still unknown from 180 to 260


def test_back_follows_a_stale_that_was_emitted_whatever_the_batches(spark):
    # A, empty, is left out of the polls at 65..195 (stale at 130) and is back at 260;
    # then a night without polls (260 to 470) makes no alert. Cut into five batches,
    # so the stale poll's predecessor and A's last record come from earlier batches.
    records = [
        rec("A", 0, 0, 10),
        *(rec("B", m, 5, 5) for m in (0, 65, 130, 195, 260, 470)),
        rec("A", 260, 4, 6),
        rec("A", 470, 4, 6),
    ]
    listed = {0: "AB", 65: "B", 130: "B", 195: "B", 260: "AB", 470: "AB"}
    polls = [sighting(m, *codes) for m, codes in listed.items()]
    one, _ = run(spark, [records], until=480, polls=[polls])
    assert alerts(one) == [
        ("A", "empty", at(0), None),
        ("A", "stale", at(130), at(0)),
        ("A", "back", at(260), at(0)),
    ]
    by_minute = sorted(records, key=lambda r: r.observed_at)
    cuts = [0, 65, 130, 260, 470]
    batches, poll_batches = [], []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else 10_000
        batches.append([r for r in by_minute if us(start) <= us_of(r) < us(end)])
        poll_batches.append([p for p in polls if us(start) <= us_of(p) < us(end)])
    split, _ = run(spark, batches, until=480, polls=poll_batches)
    key = ["station_code", "at", "alert"]
    pd.testing.assert_frame_equal(
        one["alerts"].sort_values(key, ignore_index=True),
        split["alerts"].sort_values(key, ignore_index=True),
    )


def us_of(row) -> int:
    return int(row.observed_at.timestamp() * 1_000_000)


def test_the_last_ok_poll_is_kept_however_old(spark):
    # A week and more without an ok poll: the next batch must still know the last one,
    # or its first poll would look like the first ever and repeat every stale alert.
    week = 7 * 24 * 60
    polls = [sighting(0, "A"), sighting(5, ok=False), sighting(week + 70, "A")]
    rows = [{**p.to_dict(), "partition": 0, "offset": i} for i, p in enumerate(polls)]
    batch = spark.createDataFrame(rows, observation.batch_schema())
    arranged = observation.arrange(
        spark.createDataFrame([], observation.kept_schema()), batch, None
    )
    kept = observation.kept(arranged, us(week + 60)).orderBy("o_us").collect()
    assert [(r["o_us"], r["ok"], r["listed"]) for r in kept] == [
        (us(0), True, None),  # the last ok poll before the frontier; the failed one is gone
        (us(week + 70), True, ["A"]),  # pending: kept whole
    ]
