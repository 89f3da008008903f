"""pipeline.kafka.clients against the real broker: clients as configured, topics as created."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from pipeline.kafka import clients
from pipeline.kafka.clients import RECONNECT, KeySerializer

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No KAFKA_* client setting from the caller's shell (the broker address is passed)."""
    for name in list(os.environ):
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("VELIB_TOPIC_REPLICATION", raising=False)
    monkeypatch.delenv("VELIB_TOPIC_MIN_INSYNC", raising=False)
    return monkeypatch


def test_producer_settings_and_a_keyed_round_trip(kafka_bootstrap, make_topic, clean_env):
    topic = make_topic(1)
    producer = clients.producer(kafka_bootstrap)
    try:
        config = producer.config
        assert config["compression_type"] == "gzip"
        assert isinstance(config["key_serializer"], KeySerializer)
        assert config["reconnect_backoff_max_ms"] == RECONNECT["reconnect_backoff_max_ms"]
        # idempotence and acks=all are kafka-python's defaults: left alone, never weakened
        assert config["enable_idempotence"] is True and config["acks"] in ("all", -1)
        producer.send(topic, key="Saint-Mandé", value=b"{}").get(timeout=30)
    finally:
        producer.close()
    consumer = clients.consumer(kafka_bootstrap, None)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = [m for batch in consumer.poll(timeout_ms=5000).values() for m in batch]
    finally:
        consumer.close()
    assert [(m.key, m.value) for m in got] == [("Saint-Mandé".encode(), b"{}")]


def test_consumer_settings_environment_and_overrides(kafka_bootstrap, clean_env):
    clean_env.setenv("KAFKA_RECONNECT_BACKOFF_MAX_MS", "2500")
    clean_env.setenv("KAFKA_HEAP_OPTS", "-Xmx1G")  # the launch scripts': not a client setting
    consumer = clients.consumer(kafka_bootstrap, "velib-capture", auto_offset_reset="latest")
    try:
        config = consumer.config
        assert config["group_id"] == "velib-capture"
        assert config["enable_auto_commit"] is False
        assert config["reconnect_backoff_max_ms"] == 2500  # the environment over the default
        assert config["auto_offset_reset"] == "latest"  # an explicit override over the default
        assert consumer.topics() is not None  # it really talks to the broker
    finally:
        consumer.close()
    plain = clients.consumer(kafka_bootstrap, None)
    try:
        assert plain.config["auto_offset_reset"] == "earliest"
        assert plain.config["group_id"] is None
    finally:
        plain.close()


def describe(bootstrap: str, name: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (topic,) = admin.describe_topics([name])
        return len(topic["partitions"])
    finally:
        admin.close()


def test_ensure_topic_creates_once_and_leaves_an_existing_topic(kafka_bootstrap, clean_env):
    name = f"ensure-{uuid.uuid4().hex[:12]}"
    assert clients.ensure_topic(kafka_bootstrap, name, partitions=6) is True
    assert describe(kafka_bootstrap, name) == 6
    assert clients.ensure_topic(kafka_bootstrap, name, partitions=2) is False
    assert describe(kafka_bootstrap, name) == 6  # never changed by a second call


def test_ensure_topic_from_two_threads_creates_it_once(kafka_bootstrap, clean_env):
    name = f"race-{uuid.uuid4().hex[:12]}"
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(clients.ensure_topic(kafka_bootstrap, name)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [False, True]  # the loser of the race is told "already there"


def test_ensure_topic_reports_a_replication_the_cluster_cannot_give(kafka_bootstrap, clean_env):
    clean_env.setenv("VELIB_TOPIC_REPLICATION", "3")  # one broker here
    with pytest.raises(KafkaError):
        clients.ensure_topic(kafka_bootstrap, f"rf3-{uuid.uuid4().hex[:12]}")
