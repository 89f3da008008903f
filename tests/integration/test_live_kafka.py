"""The live chain's Kafka side on real brokers: the broker watchdog and the status facts.

The watchdog test runs its own broker (the one `velib run --live` keeps under its
folder), kills it with SIGKILL and lets ``_watch_broker`` bring it back on the
same port and data; the status test counts what a real broker holds.
"""

from __future__ import annotations

import dataclasses
import signal
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import TopicPartition

from pipeline import live
from pipeline.kafka import clients
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.run import RunSettings

pytestmark = pytest.mark.integration


def read_values(bootstrap: str, topic: str) -> list[bytes]:
    consumer = clients.consumer(bootstrap, None)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        values: list[bytes] = []
        while consumer.position(tp) < end:
            for batch in consumer.poll(timeout_ms=1000).values():
                values += [m.value for m in batch]
        return values
    finally:
        consumer.close()


def test_watchdog_restarts_a_killed_broker_on_its_port_with_its_data(java, tmp_path: Path):
    settings = dataclasses.replace(
        RunSettings.build({"live_dir": str(tmp_path)}), bootstrap_servers=None
    )
    with live.kafka(settings) as (bootstrap, broker):
        clients.ensure_topic(bootstrap, "kept", partitions=1)
        producer = clients.producer(bootstrap)
        producer.send("kept", key="16107", value=b"before").get(timeout=30)
        failures: list[float] = []
        assert live._watch_broker(broker, failures) is None  # running: left alone
        broker._process.send_signal(signal.SIGKILL)
        broker._process.wait(timeout=30)

        said = live._watch_broker(broker, failures)

        assert said == "kafka broker exited with code -9; restarted after 1 s"
        assert len(failures) == 1 and broker.bootstrap == bootstrap
        producer.send("kept", key="16107", value=b"after").get(timeout=60)
        producer.close()
        assert read_values(bootstrap, "kept") == [b"before", b"after"]


def test_status_counts_what_the_broker_holds(kafka_bootstrap, make_topic, tmp_path, monkeypatch):
    status, dead, polls = make_topic(3), make_topic(1), make_topic(1)
    monkeypatch.setenv("VELIB_TOPIC_STATUS", status)
    monkeypatch.setenv("VELIB_TOPIC_DEAD_LETTER", dead)
    monkeypatch.setenv("VELIB_TOPIC_POLLS", polls)
    settings = RunSettings.build({"live_dir": str(tmp_path)})
    assert IngestSettings.build().topic == status
    producer = clients.producer(kafka_bootstrap)
    for i in range(7):
        producer.send(status, key=f"{i}", value=b"{}")
    producer.send(dead, key=None, value=b"{}")
    for _ in range(3):
        producer.send(polls, key="gbfs", value=b"{}")
    producer.flush()
    producer.close()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for name in ("T090000Z", "T090100Z", ".T090200Z.tmp"):  # a half-written poll: not counted
        folder = tmp_path / "archive" / settings.source / today / name
        folder.mkdir(parents=True)
        if not name.startswith("."):
            (folder / "poll.json").write_text("{}", encoding="utf-8")

    facts = live.status(settings, settings.stages(), kafka_bootstrap)

    assert facts["polls_today"] == 2 and facts["records"] == 7 and facts["dead_letters"] == 1
    assert facts["poll_messages"] == 3
    assert facts["capture_lag"] == 7  # the capture group never read this fresh topic
    assert facts["spark_batch"] is None and "kafka" not in facts


def test_status_says_kafka_is_away_instead_of_failing(tmp_path: Path):
    with socket.socket() as s:  # a port nothing listens on: a real refused connection
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = RunSettings.build({"live_dir": str(tmp_path)})
    facts = live.status(settings, settings.stages(), f"127.0.0.1:{port}")
    assert facts["kafka"].startswith("unavailable (") and facts["polls_today"] == 0
