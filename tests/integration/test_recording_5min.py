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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline import poll, record
from pipeline.delta.read import read_arrow
from pipeline.ingest.job import ingest
from pipeline.kafka import clients
from pipeline.settings.stream import StreamSettings
from pipeline.sources.recorded import read_recorded
from pipeline.stream.job import run_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

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


@pytest.mark.timeout(1200)
def test_the_5_minute_recording_polls_rereads_broken_answers_and_nights(
    spark, kafka_bootstrap, make_topic, tmp_path
):
    topic, dead = make_topic(3), make_topic(1)
    polls_topic = f"{topic}-polls"
    answers = list(read_recorded(FIVE_MIN))
    summary = ingest(
        answers,
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        dead_letter_topic=dead,
        polls_topic=polls_topic,
        heartbeat_s=3600,
        progress=False,
    )

    # ingest: polls are the answers that are not re-reads; each kind is counted
    assert summary.snapshots == len(answers) == 14
    assert summary.poll_rereads == len(REREADS) and summary.reread_kinds == {
        "identical": 4,
        "frozen": 2,
    }
    assert summary.polls == 14 - len(REREADS) == 8 and summary.polls_failed == 2
    assert summary.dead_lettered == summary.rejected == 2 * 211
    assert summary.oddities["clock_backwards"] == 1 and summary.oddities["partial_answer"] == 2
    assert "polls=8 (failed=2) rereads=6 (frozen=2 identical=4)" in summary.line()

    sent = [poll.from_json(v) for v in read_topic(kafka_bootstrap, polls_topic)]
    names = [paris_name(p.origin) for p in sent]
    assert names == [paris_name(s.origin) for s in answers if paris_name(s.origin) not in REREADS]
    assert not set(names) & set(REREADS)
    broken = [p for p in sent if Path(p.origin).name in BROKEN]
    assert [(p.ok, p.listed, p.stations, p.rejected) for p in broken] == [(False, (), 0, 211)] * 2
    assert all("missing station code" in (p.reason or "") for p in broken)
    assert all(p.ok and len(p.listed) == 213 for p in sent if p not in broken)

    letters = [json.loads(v) for v in read_topic(kafka_bootstrap, dead)]
    assert len(letters) == 2 * 211
    assert {letter["reason"] for letter in letters} == {"missing station code"}
    assert {Path(letter["origin"]).name for letter in letters} == set(BROKEN)
    assert all(
        letter["raw"]["stationcode"] is None and letter["raw"]["numbikesavailable"] is not None
        for letter in letters
    )

    records = [record.from_json(v) for v in read_topic(kafka_bootstrap, topic)]
    emitted_at = {r.observed_at for r in records}
    poll_times = {p.observed_at for p in sent if p.ok}
    assert emitted_at <= poll_times  # nothing from a re-read or a broken answer
    assert len(records) == summary.emitted == sum(p.emitted for p in sent)
    assert all(r.capacity is not None and r.name for r in records)  # descriptions kept

    out = tmp_path / "processed"
    streamed = run_stream(
        spark,
        StreamSettings.build(
            {
                "bootstrap_servers": kafka_bootstrap,
                "topic": topic,
                "polls_topic": polls_topic,
                "out": str(out),
                "alerts_topic": make_topic(1),
            }
        ),
    )
    assert streamed.polls_in == streamed.rows["polls"] == 8
    polls = table(out, "polls").sort_values("observed_at", ignore_index=True)
    assert list(polls["origin"]) == [p.origin for p in sent]
    assert [(o, len(x)) for o, x in zip(polls["ok"], polls["listed"], strict=True)] == [
        (p.ok, 213 if p.ok else 0) for p in sent
    ]

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

    def at(day: int, hour: int, minute: int) -> datetime:
        return datetime(2024, 11, day, hour, minute, tzinfo=UTC)

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
    assert streamed.records_in == len(records) and streamed.late == 0
