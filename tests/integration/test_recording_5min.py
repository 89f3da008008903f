"""The 5-minute recording, read as it is, through a real broker and a real SparkSession.

``tests/fixtures/opendata-5min``: 14 real answers of the open-data export (213
stations) saved every 5 minutes on Sunday 3 Nov 2024 evening and Monday 4 Nov
morning, named by the collector's Paris clock, with the recording's manifest.
Among them (measured on the whole recording, tests/fixtures/README.md): re-reads
by bytes and by counts, a ``duedate`` going backwards, two broken answers (counts
without station codes), answers without descriptions, and the night between.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline import poll, record
from pipeline.delta.read import read_arrow
from pipeline.ingest.job import IngestSummary, ingest
from pipeline.kafka import clients
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream.job import run_stream
from pipeline.stream.microbatch import StreamSummary

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

FIVE_MIN = Path(__file__).parent.parent / "fixtures" / "opendata-5min"
BROKEN = ("velib_data_20241104_100002.json.gz", "velib_data_20241104_100502.json.gz")
REREADS = {  # file time (Paris) -> why it observed nothing new
    "20241103_174002": "identical",
    "20241103_175001": "frozen",
    "20241104_091002": "identical",
    "20241104_101502": "frozen",
    "20241104_102002": "identical",
    "20241104_112001": "identical",
}
LAST_EVENING_POLL = datetime(2024, 11, 3, 16, 35, 1, tzinfo=UTC)  # 17:35:01 Paris
FIRST_MORNING_POLL = datetime(2024, 11, 4, 8, 5, 1, tzinfo=UTC)  # 09:05:01 Paris


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    consumer = clients.consumer(bootstrap, None, consumer_timeout_ms=4000)
    consumer.subscribe([topic])
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()


def table(out: Path, name: str) -> pd.DataFrame:
    df = read_arrow(out / name).to_pandas()
    for column in ("window_start", "observed_at"):
        if column in df:
            df[column] = pd.to_datetime(df[column], utc=True)
    return df


def paris_name(path: str) -> str:
    return Path(path).name[len("velib_data_") : -len(".json.gz")]


@dataclass
class Chain:
    """The slice through ingest and the stream once, with what each stage left."""

    answers: list
    summary: IngestSummary
    sent: list[poll.Poll]
    letters: list[dict]
    records: list[record.StationRecord]
    streamed: StreamSummary
    out: Path


@pytest.fixture(scope="module")
def chain(spark, kafka_bootstrap, tmp_path_factory) -> Chain:
    topic = f"five-{uuid.uuid4().hex[:10]}"
    polls_topic, dead = f"{topic}-polls", f"{topic}-dlq"
    clients.ensure_topic(kafka_bootstrap, topic, 3)
    answers = list(read_recorded(FIVE_MIN))
    names = {"topic": topic, "dead_letter_topic": dead, "polls_topic": polls_topic}
    settings = IngestSettings.build({"bootstrap_servers": kafka_bootstrap, "heartbeat_s": 3600,
                                     **names})  # fmt: skip
    summary = ingest(answers, settings, progress=False)
    out = tmp_path_factory.mktemp("five") / "processed"
    streamed = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "polls_topic": polls_topic,
                "out": str(out),
                "alerts_topic": f"{topic}-alerts",
            }
        ),
    )
    return Chain(
        answers,
        summary,
        [poll.from_json(v) for v in read_topic(kafka_bootstrap, polls_topic)],
        [json.loads(v) for v in read_topic(kafka_bootstrap, dead)],
        [record.from_json(v) for v in read_topic(kafka_bootstrap, topic)],
        streamed,
        out,
    )


def test_ingest_counts_polls_rereads_of_each_kind_and_broken_answers(chain: Chain):
    summary = chain.summary
    assert summary.snapshots == len(chain.answers) == 14
    assert summary.poll_rereads == len(REREADS) and summary.reread_kinds == {
        "identical": 4,
        "frozen": 2,
    }
    assert summary.polls == 14 - len(REREADS) == 8 and summary.polls_failed == 2
    assert summary.dead_lettered == summary.rejected == 2 * 211
    assert summary.oddities["clock_backwards"] == 1 and summary.oddities["partial_answer"] == 2
    assert "polls=8 (failed=2) rereads=6 (frozen=2 identical=4)" in summary.line()


def test_polls_are_the_answers_that_are_not_rereads_and_broken_ones_list_nothing(chain: Chain):
    sent = chain.sent
    names = [paris_name(p.origin) for p in sent]
    kept = [paris_name(s.origin) for s in chain.answers if paris_name(s.origin) not in REREADS]
    assert names == kept and not set(names) & set(REREADS)
    broken = [p for p in sent if Path(p.origin).name in BROKEN]
    assert [(p.ok, p.listed, p.stations, p.rejected) for p in broken] == [(False, (), 0, 211)] * 2
    assert all("missing station code" in (p.reason or "") for p in broken)
    assert all(p.ok and len(p.listed) == 213 for p in sent if p not in broken)


def test_a_broken_answers_records_are_dead_lettered_with_their_reason(chain: Chain):
    letters = chain.letters
    assert len(letters) == 2 * 211
    assert {letter["reason"] for letter in letters} == {"missing station code"}
    assert {Path(letter["origin"]).name for letter in letters} == set(BROKEN)
    assert all(
        letter["raw"]["stationcode"] is None and letter["raw"]["numbikesavailable"] is not None
        for letter in letters
    )


def test_records_come_only_from_polls_with_their_descriptions(chain: Chain):
    records, sent = chain.records, chain.sent
    emitted_at = {r.observed_at for r in records}
    assert emitted_at <= {p.observed_at for p in sent if p.ok}  # no re-read, no broken answer
    assert len(records) == chain.summary.emitted == sum(p.emitted for p in sent)
    assert all(r.capacity is not None and r.name for r in records)  # descriptions kept
    assert chain.streamed.records_in == len(records) and chain.streamed.late == 0


def test_the_stream_keeps_the_polls_and_what_each_observed(chain: Chain):
    assert chain.streamed.polls_in == chain.streamed.rows["polls"] == 8
    polls = table(chain.out, "polls").sort_values("observed_at", ignore_index=True)
    assert list(polls["origin"]) == [p.origin for p in chain.sent]
    assert [(o, len(x)) for o, x in zip(polls["ok"], polls["listed"], strict=True)] == [
        (p.ok, 213 if p.ok else 0) for p in chain.sent
    ]


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2024, 11, day, hour, minute, tzinfo=UTC)


def test_windows_count_polls_not_rereads_or_broken_answers_and_nights_are_unobserved(
    chain: Chain,
):
    out, sent = chain.out, chain.sent
    # windows: a poll observes, a re-read and a broken answer do not, a night is unobserved
    area = table(out, "indicators_area").query("area_level == 'network'")
    network = {
        t.to_pydatetime(): n for t, n in zip(area["window_start"], area["polls"], strict=True)
    }
    window = timedelta(minutes=15)
    ok_times = sorted(p.observed_at for p in sent if p.ok)
    assert network and all(
        n == sum(1 for o in ok_times if t <= o < t + window) for t, n in network.items()
    )
    stations = table(out, "indicators_station")
    seen = stations.groupby("window_start")["polls_seen"].agg(["min", "max"])
    seen.index = [t.to_pydatetime() for t in seen.index]

    assert network[at(3, 16, 30)] == 1  # the 16:35 poll; its 16:40 re-read is not one more
    assert network[at(3, 16, 45)] == 0  # only the 16:50 re-read: nothing observed
    assert tuple(seen.loc[at(3, 16, 45)]) == (0, 0)
    assert network[at(4, 9, 0)] == 1  # broken at 09:00 and 09:05, a poll at 09:10
    assert tuple(seen.loc[at(4, 9, 0)]) == (1, 1)  # each station seen once, by the poll only
    dusk, dawn = LAST_EVENING_POLL + window, FIRST_MORNING_POLL - window
    night = sorted(t for t in network if dusk < t < dawn)  # no poll of either day in them
    # every state of the slice was sent at 16:35 (its first poll) and stays in force for
    # stream.stale_after (2 h): the night's first windows are carried forward, unobserved,
    # then every station is unknown and no window is written until the morning poll
    assert night == [at(3, 17, 0) + i * window for i in range(7)]
    assert {network[t] for t in night} == {0}
    assert network[at(4, 8, 0)] == 1  # the morning poll (its 08:10 re-read is not one more)
    in_night = seen.loc[[t for t in seen.index if t in night]]
    assert len(in_night) > 0 and (in_night["max"] == 0).all()  # carried forward, not seen
