"""The stream's tables do not depend on how the topic is cut into micro-batches (real Kafka, Spark).

The invariant (docs/architecture.md): for the same topic, every Delta table
holds the same rows whatever the cut into micro-batches, and whatever
restarts came between them. A batch that closes no window is a normal batch.

* a property test (hypothesis) draws cuts of a small real recording
  (tests/fixtures/history: 6 snapshots of 25 stations, 3 partitions, plus its
  polls and one malformed value), restarts between batches and a crash inside
  one (some tables committed, then killed), and runs them through the job's
  own batch function (tests/cuts.py); the tables equal one batch's;
* batches of one record each (the batch function, ten stations of two snapshots),
  and the real streaming query (``run_stream``) with ``maxOffsetsPerTrigger`` 7 on
  three snapshots of that recording, and 500 on two full real snapshots (1,400 stations
  each: every snapshot is split across batches), equals one batch;
* a live run at a live pace: a 1 s trigger while snapshots arrive one at a
  time, so several batches fall inside one window and none closes a window.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import poll
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream.job import run_stream
from tests.cuts import Crash, CutRun, cuts_at, end_offsets, tables

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HISTORY = sorted((ROOT / "tests" / "fixtures" / "history").glob("*.csv*"))
TWO_SNAPSHOTS = [
    ROOT / "data" / "raw" / "opendata-2022-05" / name
    for name in (
        "velib-opendata-2022-05-16T130938Z.csv.gz",
        "velib-opendata-2022-05-16T135619Z.csv.gz",
    )
]
MALFORMED = b'{"station_code": "16107", "bikes_available": "plenty"'


def recorded_topic(
    bootstrap: str, files: list[Path], partitions: int = 3, stations: int | None = None
) -> str:
    """A fresh topic (and its polls topic) holding what ingest makes of ``files``.

    ``stations`` keeps only that many stations (the first codes) of every snapshot.
    """
    topic = f"cuts-{uuid.uuid4().hex[:10]}"
    clients.ensure_topic(bootstrap, topic, partitions=partitions)
    snapshots = [s for f in files for s in read_recorded(f)]
    if stations is not None:
        codes = sorted({r.station_code for s in snapshots for r in s.records})[:stations]
        snapshots = [
            replace(s, records=[r for r in s.records if r.station_code in codes]) for s in snapshots
        ]
    ingest(snapshots, ingest_settings(bootstrap, topic))
    return topic


def ingest_settings(bootstrap: str, topic: str) -> IngestSettings:
    names = {"topic": topic, "dead_letter_topic": f"{topic}-dlq", "polls_topic": f"{topic}-polls"}
    return IngestSettings.build({"bootstrap_servers": bootstrap, "heartbeat_s": 3600, **names})


@pytest.fixture(scope="module")
def history_topic(kafka_bootstrap: str) -> str:
    topic = recorded_topic(kafka_bootstrap, HISTORY)
    producer = clients.producer(kafka_bootstrap)
    producer.send(topic, key="16107", value=MALFORMED)  # a _rejected row in every cut
    producer.close()
    return topic


@pytest.fixture(scope="module")
def one_batch(spark, kafka_bootstrap: str, history_topic: str, tmp_path_factory) -> dict:
    """The history topic's tables after one micro-batch of everything."""
    run = CutRun(spark, kafka_bootstrap, history_topic, tmp_path_factory.mktemp("one"))
    run.batch(end_offsets(kafka_bootstrap, [history_topic, f"{history_topic}-polls"]))
    got = tables(run.root)
    assert got["indicators_station"].num_rows > 100 and got["alerts"].num_rows > 0
    assert got["_rejected"].num_rows == 1 and got["polls"].num_rows == len(HISTORY)
    return got


def assert_same(got: dict, want: dict) -> None:
    for name, table in want.items():
        assert got[name].equals(table), (
            f"{name}: {got[name].num_rows} rows, {table.num_rows} in one batch"
        )


SLOTS = 4  # three status partitions and the polls partition
cuts = st.lists(st.lists(st.floats(0, 1), min_size=SLOTS, max_size=SLOTS), max_size=3)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fractions=cuts,
    restarts=st.sets(st.integers(0, 4)),
    crash=st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(0, 5))),
    files=st.booleans(),
)
def test_any_cut_restarts_and_a_crash_give_the_tables_of_one_batch(  # noqa: PLR0913 - fixtures and draws
    spark,
    kafka_bootstrap,
    history_topic,
    one_batch,
    tmp_path_factory,
    fractions,
    restarts,
    crash,
    files,
):
    # files: the big tables written by Spark's tasks and committed as files (a large batch's
    # way), where one_batch came to the driver as Arrow (a small batch's)
    ends = end_offsets(kafka_bootstrap, [history_topic, f"{history_topic}-polls"])
    root = tmp_path_factory.mktemp("cut")
    run = CutRun(
        spark, kafka_bootstrap, history_topic, root, spark_writes_from=0 if files else 10**9
    )
    for i, end in enumerate(cuts_at(ends, fractions)):
        if crash is not None and crash[0] == i:
            run.restart(crash_after_tables=crash[1])
            with pytest.raises(Crash):
                run.batch(end)
            run.restart()
        run.batch(end)
        if i in restarts:
            run.restart()
    assert_same(tables(run.root), one_batch)


def test_files_spark_wrote_before_a_crash_are_never_in_a_table(
    spark, kafka_bootstrap, history_topic, one_batch, tmp_path
):
    # the batch's big tables are written by Spark as files, then the process dies before
    # any commit; the restarted one writes the batch again in folders of its own
    ends = end_offsets(kafka_bootstrap, [history_topic, f"{history_topic}-polls"])
    run = CutRun(spark, kafka_bootstrap, history_topic, tmp_path, spark_writes_from=0)
    run.restart(crash_after_tables=0)
    with pytest.raises(Crash):
        run.batch(ends)
    run.restart()
    run.batch(ends)

    assert_same(tables(run.root), one_batch)
    for name in ("status", "indicators_station", "indicators_area"):
        folder = tmp_path / "out" / name
        attempts = {p.name for p in folder.glob("batch-0-*")}
        named = {
            part
            for uri in DeltaTable(str(folder)).file_uris()
            for part in Path(uri).parts
            if part.startswith("batch-0-")
        }
        assert len(attempts) == 2 and len(named) == 1 and named < attempts, name


def test_batches_of_one_record_give_the_tables_of_one_batch(
    spark, kafka_bootstrap, tmp_path_factory
):
    # two snapshots of the history (02:44 and 04:30: windows close between them), ten
    # stations each: ~20 batches of one value each (records and polls)
    topic = recorded_topic(kafka_bootstrap, HISTORY[:2], partitions=1, stations=10)
    ends = end_offsets(kafka_bootstrap, [topic, f"{topic}-polls"])
    whole = CutRun(spark, kafka_bootstrap, topic, tmp_path_factory.mktemp("whole"))
    whole.batch(ends)
    single = CutRun(spark, kafka_bootstrap, topic, tmp_path_factory.mktemp("single"))
    status, polls = ends[topic][0], ends[f"{topic}-polls"][0]
    # one record a batch; a poll with the record that completes its snapshot (ingest
    # sends a snapshot's records, then its poll), never before its records
    emitted = [p.emitted for p in read_polls(kafka_bootstrap, f"{topic}-polls")]
    complete = [sum(emitted[: i + 1]) for i in range(len(emitted))]
    for r in range(1, status + 1):
        single.batch({topic: {0: r}, f"{topic}-polls": {0: sum(c <= r for c in complete)}})
    assert single.batch_id == status and polls == len(complete)
    assert_same(tables(single.root), tables(whole.root))


def read_polls(bootstrap: str, topic: str) -> list:
    consumer = clients.consumer(bootstrap, None, consumer_timeout_ms=4000)
    consumer.subscribe([topic])
    try:
        return [poll.from_json(m.value) for m in consumer]
    finally:
        consumer.close()


def stream(spark, bootstrap: str, topic: str, out: Path, **options) -> dict:
    settings_ = StreamSettings.build(
        {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "polls_topic": f"{topic}-polls",
            "alerts_topic": f"{topic}-alerts",
            "out": str(out),
            **options,
        }
    )
    return run_stream(spark, settings_)


@pytest.mark.parametrize(("files", "per_trigger"), [(HISTORY[:3], 7), (TWO_SNAPSHOTS, 500)])
def test_the_real_query_cut_by_max_offsets_gives_the_tables_of_one_batch(
    spark, kafka_bootstrap, tmp_path, files, per_trigger
):
    topic = recorded_topic(kafka_bootstrap, files)
    whole = stream(spark, kafka_bootstrap, topic, tmp_path / "whole" / "out")
    cut = stream(
        spark, kafka_bootstrap, topic, tmp_path / "cut" / "out", max_offsets_per_trigger=per_trigger
    )
    assert whole.batches == 1 and cut.batches > len(files)  # snapshots split across batches
    assert cut.rows == whole.rows and cut.complete_until == whole.complete_until
    assert_same(tables(tmp_path / "cut"), tables(tmp_path / "whole"))


def test_a_live_stream_at_live_pace_writes_each_window_once(spark, kafka_bootstrap, tmp_path):
    # snapshots arrive one at a time while a 1 s trigger runs: batches without a poll,
    # batches inside a window, batches that close none; the stream keeps running
    topic = f"live-{uuid.uuid4().hex[:10]}"
    clients.ensure_topic(kafka_bootstrap, topic, partitions=3)
    stop, result = threading.Event(), {}
    settings_ = StreamSettings.build(
        {
            "bootstrap_servers": kafka_bootstrap,
            "topic": topic,
            "polls_topic": f"{topic}-polls",
            "alerts_topic": f"{topic}-alerts",
            "out": str(tmp_path / "live" / "out"),
            "live": True,
            "processing_time": "1 second",
            "max_offsets_per_trigger": 20,
        }
    )
    runner = threading.Thread(
        target=lambda: result.update(summary=run_stream(spark, settings_, stop)), daemon=True
    )
    runner.start()
    try:
        for snapshot in HISTORY[:4]:
            ingest(list(read_recorded(snapshot)), ingest_settings(kafka_bootstrap, topic))
            time.sleep(4)  # several triggers per snapshot, some with nothing new
        deadline = time.monotonic() + 300
        while not _drained(tmp_path / "live", kafka_bootstrap, topic):
            assert runner.is_alive(), "the live stream stopped"
            assert time.monotonic() < deadline, "the live stream did not catch up"
            time.sleep(1)
        assert runner.is_alive()
    finally:
        stop.set()
        runner.join(120)
    live = result["summary"]
    whole = stream(spark, kafka_bootstrap, topic, tmp_path / "whole" / "out")
    assert live.batches > len(HISTORY[:4]) and live.rows == whole.rows
    assert_same(tables(tmp_path / "live"), tables(tmp_path / "whole"))


def _drained(root: Path, bootstrap: str, topic: str) -> bool:
    """True when the live run's state has read every offset of both topics."""
    from pipeline.stream.progress import progress

    facts = progress(root / "out" / "_checkpoints")
    if facts.get("spark_batch") is None:
        return False
    ends = end_offsets(bootstrap, [topic, f"{topic}-polls"])
    committed = root / "out" / "_checkpoints" / "stream" / "offsets"
    newest = max((int(p.name) for p in committed.iterdir() if p.name.isdigit()), default=None)
    if newest is None or facts["spark_batch"] < newest:
        return False
    offsets = (committed / str(newest)).read_text().splitlines()[-1]
    import json

    read = json.loads(offsets)
    return all(
        read.get(t, {}).get(str(p)) == end for t, ps in ends.items() for p, end in ps.items()
    )
