"""What a soak run must show, checked from its live folder after the chain stopped.

* the topic holds exactly the changes of the archived polls (change detection
  over the archive, with ingest's heartbeat), per station in order: nothing
  lost or repeated across kill -9 and broker restarts;
* every clean status answer the feed served is in the archive (a poll in
  flight when ingest was killed is the only excuse), every archived failed
  poll, rejected row and stale answer (feed time going backwards) is a dead
  letter;
* the CSV and ``status/`` hold each topic record exactly once (after the same
  stages resume and drain what the stop left);
* no stage crashed except the ones killed on purpose, no traceback in a log;
* with ``replay``: the raw archive, replayed through ``velib ingest --source
  replay`` into fresh topics and streamed once into fresh tables, gives the
  very tables the live run wrote through its kills (canonical rows compared).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pipeline import record
from pipeline.capture.files import read_captured
from pipeline.ingest.changes import ChangeDetector
from pipeline.ingest.resume import FeedClock
from pipeline.settings.ingest import IngestSettings
from pipeline.sources.recorded import read_recorded


def _topic(bootstrap: str, topic: str) -> list[bytes]:
    from kafka import TopicPartition

    from pipeline.kafka import clients

    consumer = clients.consumer(bootstrap, None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        values: list[bytes] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=1000).values():
                values += [m.value for m in batch]
        return values
    finally:
        consumer.close()


def _drain(live: Path, bootstrap: str, root: Path) -> None:
    """Let capture and the stream finish what the stop left (as a restart would)."""
    base = [sys.executable, "-m", "pipeline.cli"]
    for args in (
        ["capture", "--until-idle", "5", "--out", str(live / "csv")],
        ["stream", "--out", str(live / "processed")],
    ):
        done = subprocess.run(
            [*base, *args, "--bootstrap-servers", bootstrap],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"draining {args[0]} failed: {done.stderr[-2000:]}")


def _expected(snapshots: list[Any], heartbeat_s: float) -> tuple[list[Any], list[str]]:
    """What ingest must have produced from the archive: changes, and dead-letter reasons."""
    clock, detector = FeedClock({}), ChangeDetector(heartbeat_s)
    changes: list[record.StationRecord] = []
    reasons: list[str] = []
    for snap in snapshots:
        if clock.place(snap) == "stale":
            reasons.append(clock.stale(snap).reason)
            continue
        changes += [r for r, _ in detector.process(snap.records)]
        reasons += [rej.reason for rej in snap.rejects]
    return changes, reasons


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ ([\w.]+):")


def tracebacks(text: str) -> dict[str, int]:
    """Tracebacks in a log: ours (a crash or a bug) apart from a client library's own.

    kafka-python logs a connection reset with its traceback when the broker is
    killed; that is the library reporting a retried network error, not a crash.
    """
    out = {"ours": 0, "kafka_client": 0}
    logger = ""
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            logger = match.group(1)
        elif line.startswith("Traceback"):
            out["kafka_client" if logger.startswith("kafka.") else "ours"] += 1
    return out


def _by_station(records: list[record.StationRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:
        out[r.station_code].append(record.to_json(r).decode())
    return dict(out)


def replay_tables(live: Path, bootstrap: str, root: Path) -> dict[str, bool]:
    """Replay the archive into fresh topics and tables; per table, equal to the live one?"""
    from pipeline.stream.export import read_stream_table
    from pipeline.stream.microbatch import OUTPUTS

    base = [sys.executable, "-m", "pipeline.cli"]
    names = ["--topic", "replay.status", "--polls-topic", "replay.polls"]
    out = live / "replay"
    for args in (
        ["ingest", "--source", "replay", str(live / "archive"), *names,
         "--dead-letter-topic", "replay.dead_letter"],
        ["stream", "--out", str(out), *names, "--alerts-topic", "replay.alerts"],
    ):  # fmt: skip
        done = subprocess.run(
            [*base, *args, "--bootstrap-servers", bootstrap],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"replaying with {args[0]} failed: {done.stderr[-2000:]}")
    return {
        name: _comparable(read_stream_table(live / "processed", name), name).equals(
            _comparable(read_stream_table(out, name), name)
        )
        for name in OUTPUTS
    }


# _rejected/ names the topic a value came from and its Kafka timestamp: the replay's
# topics and times are its own, the rest (key, partition, offset, reason, value) must match.
_REPLAY_OWN = {"_rejected": ("topic", "timestamp")}
# What makes a poll that poll (pipeline.ingest.polls.PollId). A repeated poll is rejected
# and counted nowhere; its other fields are what the sending process counted, and a
# restarted ingest counts differently from an uninterrupted one (``emitted`` adds what
# reached the topic before the crash at that feed time; ``disappeared`` starts from the
# listing it restored), so those are the sender's, not a function of the archive.
_POLL_IDENTITY = ("source", "observed_at", "polled_at")


def _comparable(table: Any, name: str) -> Any:
    from pipeline.stream.export import canonical

    kept = [c for c in table.column_names if c not in _REPLAY_OWN.get(name, ())]
    table = table.select(kept)
    if name == "_rejected":
        table = repeated_polls_by_identity(table)
    return canonical(table, name)


def repeated_polls_by_identity(table: Any) -> Any:
    """``_rejected/`` with each ``repeated poll``'s value cut to the poll's identity."""
    import pyarrow as pa

    from pipeline.stream.observation import REPEATED

    if "value" not in table.column_names or table.num_rows == 0:
        return table
    values = []
    for reason, value in zip(
        table.column("reason").to_pylist(), table.column("value").to_pylist(), strict=True
    ):
        if reason == REPEATED and value is not None:
            poll = json.loads(value)
            value = json.dumps({k: poll.get(k) for k in _POLL_IDENTITY}, sort_keys=True)
        values.append(value)
    at = table.column_names.index("value")
    return table.set_column(at, "value", pa.array(values, type=pa.string()))


def check(live: Path, root: Path, replay: bool = False) -> dict[str, Any]:
    """Every check on a stopped live folder; ``ok`` says whether all passed."""
    from pipeline.kafka.broker import LocalBroker

    ingest = IngestSettings.build()
    port = int((live / "kafka" / "port").read_text())
    replayed: dict[str, bool] | None = None
    with LocalBroker(port=port, data_dir=live / "kafka") as broker:
        _drain(live, broker.bootstrap, root)
        topic = [record.from_json(v) for v in _topic(broker.bootstrap, ingest.topic)]
        dead = [json.loads(v) for v in _topic(broker.bootstrap, ingest.dead_letter_topic)]
        if replay:
            replayed = replay_tables(live, broker.bootstrap, root)

    snapshots = list(read_recorded(live / "archive"))
    expected, errors = _expected(snapshots, ingest.heartbeat_s)
    topic_by, expected_by = _by_station(topic), _by_station(expected)
    lost = sum(len(v) for k, v in expected_by.items() if topic_by.get(k) != v)

    ledger = [json.loads(line) for line in (live / "feed-ledger.jsonl").read_text().splitlines()]
    archived = {s.observed_at for s in snapshots}
    served = [e for e in ledger if e["feed"] == "station_status" and e["status"] == 200]
    # as FeedServer.Served.clean: the data reached the client intact
    clean = [
        e
        for e in served
        if e.get("feed_time") and not {"truncated", "html", "slow"} & set(e["faults"])
    ]
    unarchived = [e for e in clean if record.parse_timestamp(e["feed_time"]) not in archived]

    keys = Counter((r.station_code, r.observed_at) for r in topic)
    csv = Counter(
        (c.record.station_code, c.record.observed_at) for c in read_captured(live / "csv")
    )
    status = _status_keys(live / "processed" / "status")
    wanted_status = Counter(_status_expected(topic))
    log = (live / "soak.log").read_text(errors="replace")
    stage_logs = {p.stem: p.read_text(errors="replace") for p in (live / "logs").glob("*.log")}
    dead_reasons = Counter(d.get("reason", "") for d in dead)
    report = {
        "topic_records": len(topic),
        "archived_polls": len(snapshots),
        "archive_changes": len(expected),
        "stations_differing_from_the_archive": lost,
        "feed_answers": len(ledger),
        "fault_events": Counter(k for e in ledger for k in e["faults"]),
        "clean_status_answers": len(clean),
        "clean_answers_not_archived": len(unarchived),
        "expected_dead_letters": len(errors),
        "dead_letters": len(dead),
        "rejects_without_dead_letter": sum(
            max(0, n - dead_reasons[reason]) for reason, n in Counter(errors).items()
        ),
        "topic_duplicates": sum(n - 1 for n in keys.values() if n > 1),
        "csv_records": sum(csv.values()),
        "csv_equals_topic": csv == keys,
        "status_rows": sum(status.values()),
        "status_equals_topic": status == wanted_status,
        "crashes": {s: log.count(f"{s} exited with code") for s in ("ingest", "capture", "stream")},
        "ingest_errors_not_kafka": _not_kafka(stage_logs.get("ingest", "")),
        "tracebacks": {name: tracebacks(text) for name, text in stage_logs.items()},
        "tables_replayed": replayed,
        "tables_equal_replay": None if replayed is None else all(replayed.values()),
    }
    report["ok"] = (
        lost == 0
        and report["topic_duplicates"] == 0
        and report["csv_equals_topic"]
        and report["status_equals_topic"]
        and report["rejects_without_dead_letter"] == 0
        and len(unarchived) <= 1
        and not any(t["ours"] for t in report["tracebacks"].values())
        and report["tables_equal_replay"] is not False
    )
    return report


def _not_kafka(log: str) -> list[str]:
    """Ingest's own error lines that are not about reaching Kafka (a feed fault that crashed it).

    A broker killed while ingest starts can make its bootstrap fail: the supervisor
    restarts it, and nothing is lost (the archive is read first). A feed fault never may.
    """
    lines = [line for line in log.splitlines() if line.startswith("velib ingest:")]
    kafka = ("Kafka", "bootstrap", "NotEnoughReplicas", "broker")
    return [line for line in lines if not any(word in line for word in kafka)]


def _status_keys(folder: Path) -> Counter[tuple[str, Any]]:
    from datetime import UTC

    from pipeline.delta.read import read_arrow

    table = read_arrow(folder, ["station_code", "observed_at"])  # the Delta table's rows
    out: Counter[tuple[str, Any]] = Counter()
    if table is None:
        return out
    codes, times = table["station_code"].to_pylist(), table["observed_at"].to_pylist()
    for code, ts in zip(codes, times, strict=True):  # UTC-aware from Delta; naive is UTC
        out[(code, ts if ts.tzinfo else ts.replace(tzinfo=UTC))] += 1
    return out


def _status_expected(topic: list[record.StationRecord]) -> list[tuple[str, Any]]:
    """The topic's records without a station's repeats of the same (report, state)."""
    last: dict[str, tuple[Any, ...]] = {}
    out = []
    for r in topic:
        key = (r.last_reported, r.state)
        if last.get(r.station_code) != key:
            out.append((r.station_code, r.observed_at))
        last[r.station_code] = key
    return out


def summary(report: dict[str, Any]) -> str:
    """The soak's result in a few lines."""
    lines = [
        f"soak: {'PASSED' if report['ok'] else 'FAILED'} after {report.get('days')} simulated "
        f"days ({report.get('duration_s')} s) at speed {report.get('speed')}, "
        f"faults {report.get('faults')}",
        f"  feed: {report['feed_answers']} answers, fault events {dict(report['fault_events'])}",
        f"  ingest: {report['archived_polls']} polls archived, {report['expected_dead_letters']} "
        f"rejects or stale -> {report['dead_letters']} dead letters; clean answers not archived: "
        f"{report['clean_answers_not_archived']}",
        f"  topic: {report['topic_records']} records = archive changes {report['archive_changes']}"
        f" (stations differing: {report['stations_differing_from_the_archive']}, duplicates: "
        f"{report['topic_duplicates']})",
        f"  csv: {report['csv_records']} records, equal to the topic: {report['csv_equals_topic']};"
        f" status/: {report['status_rows']} rows, as expected: {report['status_equals_topic']}",
        f"  kills: {[k['stage'] for k in report.get('kills', [])]}, crashes seen: "
        f"{report['crashes']}, tracebacks: {report['tracebacks']}, left running: "
        f"{report.get('left_running')}",
        f"  tables = a replay of the archive: {report.get('tables_equal_replay')} "
        f"{report.get('tables_replayed') or ''}",
        f"  wall time: {report.get('wall_s')} s, {report.get('wall_s_per_sim_day')} s per "
        f"simulated day; samples: {len(report.get('samples', []))}",
    ]
    return "\n".join(lines)
