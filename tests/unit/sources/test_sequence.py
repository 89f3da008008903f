"""A recording's answers judged in order: re-reads, backwards clocks, broken and partial answers.

Hand-made answers of real records (``conftest.py``), edited the way the 5-minute
recording's quirks look (docs/recordings.md has the measurements behind each rule).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.sources.recorded import read_recorded
from pipeline.sources.sequence import BACKWARDS, DESCRIBED, FROZEN, IDENTICAL, PARTIAL

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def moved(rows, bikes=0, duedate=None):
    """The rows with ``bikes`` more mechanical bikes (fewer docks) and another duedate."""
    out = []
    for row in rows:
        row = dict(row)
        row["numbikesavailable"] += bikes
        row["mechanical"] += bikes
        row["numdocksavailable"] -= bikes
        if duedate is not None:
            row["duedate"] = duedate
        out.append(row)
    return out


def judged(folder: Path):
    return [(s.reread, s) for s in read_recorded(folder)]


def test_an_answer_byte_identical_to_the_previous_one_is_a_reread(recording, real_rows):
    recording("20241104_101001", real_rows)
    path = recording("20241104_101502", real_rows)
    (first, a), (second, b) = judged(path.parent)
    assert (first, second) == (None, IDENTICAL)
    assert b.observed_at > a.observed_at and len(b.records) == 4  # read, but observed nothing


def test_an_older_answer_served_again_is_a_reread_not_a_step_back(recording, real_rows):
    # A, B, A: the third answer is A's bytes again (a cache two polls old); taken as a poll it
    # would move every changed station back to A's counts, then forward again.
    a, b = real_rows, moved(real_rows, bikes=1, duedate="2024-11-04T10:12:00+01:00")
    recording("20241104_101001", a)
    recording("20241104_101502", b)
    path = recording("20241104_102002", a)
    assert [r for r, _ in judged(path.parent)] == [None, None, IDENTICAL]


def test_a_run_of_frozen_answers_are_rereads_though_their_duedates_move(recording, real_rows):
    recording("20241104_101001", real_rows)
    for minute, due in (("101502", "10:05:00"), ("102002", "10:10:00"), ("102502", "10:15:00")):
        recording(f"20241104_{minute}", moved(real_rows, duedate=f"2024-11-04T{due}+01:00"))
    path = recording("20241104_103001", moved(real_rows, bikes=2))
    assert [r for r, _ in judged(path.parent)] == [None, FROZEN, FROZEN, FROZEN, None]


def test_without_the_unchanged_rule_an_unchanged_answer_is_a_poll(recording, real_rows):
    # a recording whose manifest says `rereads: identical` (few stations: none moving is real)
    path = recording("20241104_101001", real_rows)
    manifest = path.with_name("recording.yaml")
    manifest.write_text(manifest.read_text().replace("rereads: unchanged", "rereads: identical"))
    recording("20241104_101502", moved(real_rows, duedate="2024-11-04T10:05:00+01:00"))
    assert [r for r, _ in judged(path.parent)] == [None, None]


def test_an_answer_whose_clock_goes_backwards_is_a_poll_flagged_backwards(recording, real_rows):
    recording("20241104_101001", moved(real_rows, duedate="2024-11-04T09:59:06+01:00"))
    path = recording("20241104_101502", moved(real_rows, 1, "2024-11-04T09:58:57+01:00"))
    (_, first), (reread, second) = judged(path.parent)
    assert reread is None and second.oddities[BACKWARDS] == 1 and BACKWARDS not in first.oddities
    assert [r.bikes_available for r in second.records] == [
        r.bikes_available + 1 for r in first.records
    ]


def test_a_broken_answer_lists_no_station_and_rejects_every_row(recording, real_rows):
    broken = [dict(r) for r in real_rows]
    for row in broken:  # what the 7 broken answers look like: counts, flags, duedate only
        for key in ("stationcode", "name", "capacity", "coordonnees_geo"):
            row[key] = None
        row["nom_arrondissement_communes"] = row["code_insee_commune"] = None
    recording("20241104_095502", real_rows)
    recording("20241104_100002", broken)
    path = recording("20241104_100502", broken)  # byte-identical to the broken one before it
    (_, good), (first, a), (second, b) = judged(path.parent)
    assert (first, second) == (None, None)  # a broken answer is never a re-read: a failed poll
    assert a.records == b.records == []
    assert [x.reason for x in a.rejects] == ["missing station code"] * 4
    assert a.rejects[0].raw == broken[0]  # the row as it came, for the dead letter
    assert len(good.records) == 4


def test_a_partial_answer_keeps_each_stations_last_description(recording, real_rows):
    # 24 answers of 4 Nov have codes and counts but no name, capacity or position: without
    # their description, every station's capacity would look changed (to null and back).
    bare = [
        dict(r, name=None, capacity=None, coordonnees_geo=None, nom_arrondissement_communes=None)
        for r in moved(real_rows, bikes=1)
    ]
    recording("20241104_101001", real_rows)
    path = recording("20241104_111501", bare)
    (_, full), (reread, partial) = judged(path.parent)
    assert reread is None and partial.oddities[PARTIAL] == 1 and partial.oddities[DESCRIBED] == 4
    for before, after in zip(full.records, partial.records, strict=True):
        assert (after.name, after.lat, after.lon, after.capacity, after.commune) == (
            before.name,
            before.lat,
            before.lon,
            before.capacity,
            before.commune,
        )
        assert after.bikes_available == before.bikes_available + 1


def test_a_first_answer_without_description_keeps_its_nulls(recording, real_rows):
    bare = [dict(r, name=None, capacity=None, coordonnees_geo=None) for r in real_rows]
    path = recording("20241104_111501", bare)
    ((_, snap),) = judged(path.parent)
    assert snap.oddities[PARTIAL] == 1 and snap.oddities[DESCRIBED] == 0
    assert {r.capacity for r in snap.records} == {None}


def test_the_real_slice_is_judged_as_the_whole_recording_judged_it():
    # tests/fixtures/opendata-5min: 14 real answers (213 stations) of 3-4 Nov 2024; what each
    # answer is was measured on the whole recording (tests/fixtures/README.md).
    got = [
        (Path(s.origin).name[11:26], s.reread or ("poll" if s.records else "failed"))
        for s in read_recorded(FIX / "opendata-5min")
    ]
    assert got == [
        ("20241103_173501", "poll"),
        ("20241103_174002", IDENTICAL),
        ("20241103_175001", FROZEN),
        ("20241104_090501", "poll"),
        ("20241104_091002", IDENTICAL),
        ("20241104_100002", "failed"),
        ("20241104_100502", "failed"),
        ("20241104_101001", "poll"),
        ("20241104_101502", FROZEN),
        ("20241104_102002", IDENTICAL),
        ("20241104_102501", "poll"),
        ("20241104_111501", "poll"),
        ("20241104_112001", IDENTICAL),
        ("20241104_112502", "poll"),
    ]
