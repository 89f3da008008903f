"""Ingest against a real Kafka broker: exact records, keys, dead letters, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import poll
from pipeline.ingest.job import emitted_records, ingest
from pipeline.kafka import clients
from pipeline.record import from_json, to_json
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.parsers import parse_gbfs
from pipeline.sources.recorded import Snapshot, origin_of, read_recorded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent.parent
FIX = ROOT / "tests" / "fixtures"


def consume_all(bootstrap: str, topic: str, group_id: str, expected: int, timeout_s: float = 30):
    consumer = clients.consumer(bootstrap, group_id, consumer_timeout_ms=2000)
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=1000)
            for records in batch.values():
                messages.extend(records)
            if len(messages) >= expected and not batch:
                break
    finally:
        consumer.close()
    return messages


def per_key(messages):
    out: dict[str, list[bytes]] = {}
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        out.setdefault(m.key.decode(), []).append(m.value)
    return out


def expected_per_key(path: Path):
    records = [r for s in read_recorded(path) for r in s.records]
    out: dict[str, list[bytes]] = {}
    for r in emitted_records(records):
        out.setdefault(r.station_code, []).append(to_json(r))
    return out


def run(bootstrap, snapshots, topic, dead, **kw):
    settings = IngestSettings.build(
        {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "dead_letter_topic": dead,
            "polls_topic": kw.pop("polls_topic", f"{topic}-polls"),
            "heartbeat_s": kw.pop("heartbeat_s", 0),
            "speed": 0,
        }
    )
    return ingest(snapshots, settings, progress=False, **kw)


def polls_on(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a one-partition polls topic, in order."""
    consumer = clients.consumer(bootstrap, None, consumer_timeout_ms=3000)
    consumer.subscribe([topic])
    try:
        return [(m.key, m.value) for m in sorted(consumer, key=lambda m: m.offset)]
    finally:
        consumer.close()


def clean_polls(bootstrap: str, make_topic, **kw) -> list[tuple[bytes, bytes]]:
    """The polls of one uninterrupted run over the history, in fresh topics."""
    topic, polls = make_topic(3), make_topic(1)
    run(bootstrap, read_recorded(FIX / "history"), topic, make_topic(1), polls_topic=polls, **kw)
    return polls_on(bootstrap, polls)


def test_replay_history_emits_exactly_the_changes_with_keys(kafka_bootstrap, make_topic, group_id):
    topic, dead, polls = make_topic(3), make_topic(1), make_topic(1)
    expected = expected_per_key(FIX / "history")
    total = sum(len(v) for v in expected.values())
    summary = run(kafka_bootstrap, read_recorded(FIX / "history"), topic, dead, polls_topic=polls)
    assert (summary.snapshots, summary.seen, summary.emitted) == (6, 150, total)
    assert summary.unchanged == 150 - total and summary.delivery_errors == 0
    got = per_key(consume_all(kafka_bootstrap, topic, group_id, total))
    assert got == expected
    one = from_json(next(iter(got.values()))[0])
    assert one.source == "replay:opendata-csv" and one.observed_at.tzinfo is not None
    # one poll per file, after its records, saying what each file held and what was sent
    sent = [poll.from_json(v) for _, v in polls_on(kafka_bootstrap, polls)]
    files = sorted((FIX / "history").glob("*.csv*"))
    assert summary.polls == len(sent) == len(files)
    assert [p.origin for p in sent] == [origin_of(f) for f in files]  # relative to the cwd
    snaps = list(read_recorded(FIX / "history"))
    assert [p.observed_at for p in sent] == [s.observed_at for s in snaps]
    assert [p.listed for p in sent] == [
        tuple(sorted(r.station_code for r in s.records)) for s in snaps
    ]
    assert sum(p.emitted for p in sent) == total and all(p.ok and p.stations == 25 for p in sent)
    assert all(p.polled_at is None and p.feed_time is None for p in sent)  # a recorded file


def test_malformed_files_become_dead_letters_and_the_loop_goes_on(
    kafka_bootstrap, make_topic, group_id
):
    topic, dead = make_topic(1), make_topic(1)
    snaps = list(read_recorded(FIX / "malformed")) + list(read_recorded(FIX / "gbfs/2024-11-19"))
    summary = run(kafka_bootstrap, snaps, topic, dead)
    assert (summary.dead_lettered, summary.emitted) == (4, 20)
    letters = [json.loads(m.value) for m in consume_all(kafka_bootstrap, dead, group_id, 4)]
    assert len(letters) == 4
    reasons = " | ".join(sorted(x["reason"] for x in letters))
    for part in ("HTML", "truncated or invalid JSON", "zip archive", "unknown CSV layout"):
        assert part in reasons
    assert all({"reason", "origin", "source", "observed_at", "raw"} <= x.keys() for x in letters)


def test_rejected_row_dead_lettered_with_station_key(kafka_bootstrap, make_topic, group_id):
    topic, dead = make_topic(1), make_topic(1)
    snap = next(iter(read_recorded(FIX / "gbfs/2024-11-19")))
    from pipeline.sources.normalize import Rejection

    bad = Rejection("negative bikes_available (-1)", {"stationCode": "16107"}, snap.origin)
    run(kafka_bootstrap, [replace(snap, rejects=[bad])], topic, dead)
    [letter] = consume_all(kafka_bootstrap, dead, group_id, 1)
    assert letter.key == b"16107"
    assert json.loads(letter.value)["reason"] == "negative bikes_available (-1)"


def test_restart_after_partial_snapshot_neither_repeats_nor_misses(
    kafka_bootstrap, make_topic, group_id
):
    topic, dead, polls = make_topic(3), make_topic(1), make_topic(1)
    snaps = list(read_recorded(FIX / "history"))
    # first run dies in the middle of snapshot 3: only part of it reached the topic, and
    # its poll did not (sent elsewhere, so the polls topic never sees it)
    run(kafka_bootstrap, snaps[:2], topic, dead, polls_topic=polls)
    partial = replace(snaps[2], records=snaps[2].records[:12])
    run(kafka_bootstrap, [partial], topic, dead, polls_topic=make_topic(1))
    summary = run(kafka_bootstrap, read_recorded(FIX / "history"), topic, dead, polls_topic=polls)
    assert summary.skipped == 2  # snapshots older than the resume point
    expected = expected_per_key(FIX / "history")
    total = sum(len(v) for v in expected.values())
    assert per_key(consume_all(kafka_bootstrap, topic, group_id, total)) == expected
    # the polls are those of one clean run: none lost, none twice, emitted counted in full
    assert polls_on(kafka_bootstrap, polls) == clean_polls(kafka_bootstrap, make_topic)
    # a third run over the same files emits nothing at all, and sends no poll again
    again = run(kafka_bootstrap, read_recorded(FIX / "history"), topic, dead, polls_topic=polls)
    assert again.emitted == 0 and again.polls == 0


def gbfs_answer(day: str, polled_s: float, without: str | None = None) -> Snapshot:
    """A real GBFS answer as a live poll ``polled_s`` seconds into the run saw it.

    ``without``: a station code left out of station_information (as an ingest whose
    information predates the station's addition sees it: no name, no capacity).
    """
    folder = FIX / "gbfs" / day
    info = json.loads((folder / "station_information.json").read_text())
    status = json.loads((folder / "station_status.json").read_text())
    stations = info["data"]["stations"]
    info["data"]["stations"] = [s for s in stations if s.get("stationCode") != without]
    snap = parse_gbfs(info, status, origin=f"gbfs/{day}", source="gbfs")
    return replace(snap, polled_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=polled_s))


def topic_by_partition(bootstrap: str, topic: str, group_id: str, expected: int):
    """Every value of ``topic`` by partition, in offset order."""
    out: dict[int, list[bytes]] = {}
    for m in sorted(consume_all(bootstrap, topic, group_id, expected), key=lambda m: m.offset):
        out.setdefault(m.partition, []).append(m.value)
    return out


def test_a_restart_between_answers_of_one_feed_time_gives_what_one_run_gives(
    kafka_bootstrap, make_topic, group_id
):
    # The soak's kill of ingest, on real answers. The first run read feed time T0, then T1
    # with station_information fetched before station H was added; it was killed. The
    # restart reads its newest archived poll (T1) again, then the feed answers from a
    # cache (T0: stale), then T1 again with the current information (H described).
    h = "32304"  # listed at T1 only
    first_run = [gbfs_answer("2024-11-19", 0), gbfs_answer("2025-10-18", 40, without=h)]
    restart = [first_run[1], gbfs_answer("2024-11-19", 80), gbfs_answer("2025-10-18", 120)]
    assert restart[2].observed_at == first_run[1].observed_at > first_run[0].observed_at
    topics = {"live": [make_topic(3), make_topic(1), make_topic(1)]}
    topics["one run"] = [make_topic(3), make_topic(1), make_topic(1)]
    status, dead, polls = topics["live"]
    run(kafka_bootstrap, first_run, status, dead, polls_topic=polls)
    resumed = run(kafka_bootstrap, restart, status, dead, polls_topic=polls)
    status, dead, polls = topics["one run"]
    once = run(kafka_bootstrap, [*first_run, *restart[1:]], status, dead, polls_topic=polls)
    assert resumed.emitted == 0 and once.emitted == 39  # H's capacity waits for T1 to pass
    got = {
        name: (
            topic_by_partition(kafka_bootstrap, names[0], f"{group_id}-{i}", 39),
            polls_on(kafka_bootstrap, names[2]),
        )
        for i, (name, names) in enumerate(topics.items())
    }
    assert got["live"] == got["one run"]
    records = [from_json(v) for values in got["live"][0].values() for v in values]
    assert len({(r.station_code, r.observed_at) for r in records}) == len(records) == 39
    assert [r.capacity for r in records if r.station_code == h] == [None]  # one state at T1
    sent = [poll.from_json(v) for _, v in got["live"][1]]
    # T0, T1, then the stale answer: a poll of its own (not ok), as in the replay
    assert [(p.observed_at, p.ok) for p in sent] == [
        (first_run[0].observed_at, True),
        (first_run[1].observed_at, True),
        (first_run[0].observed_at, False),
    ]


@pytest.mark.slow
def test_cli_killed_with_sigkill_then_restarted(kafka_bootstrap, make_topic, group_id):
    topic, dead, polls = make_topic(3), make_topic(1), make_topic(1)
    cmd = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "ingest",
        "--source",
        "replay",
        str(FIX / "history"),
        "--heartbeat",
        "0",
        "--topic",
        topic,
        "--dead-letter-topic",
        dead,
        "--polls-topic",
        polls,
        "--bootstrap-servers",
        kafka_bootstrap,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # 4 recorded hours per second: ~0.5 s between the history's snapshots
    proc = subprocess.Popen([*cmd, "--speed", "14400"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        consumer = clients.consumer(kafka_bootstrap, group_id + "-watch")
        consumer.subscribe([topic])
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 25 and time.monotonic() < deadline:  # the first snapshot is in
            seen += sum(len(v) for v in consumer.poll(timeout_ms=200).values())
        consumer.close()
        assert seen >= 25, proc.stderr.read().decode() if proc.poll() is not None else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ingest: snapshots=")  # the result on stdout, logs on stderr
    expected = expected_per_key(FIX / "history")
    total = sum(len(v) for v in expected.values())
    assert per_key(consume_all(kafka_bootstrap, topic, group_id, total)) == expected
    assert polls_on(kafka_bootstrap, polls) == clean_polls(kafka_bootstrap, make_topic)
