"""pipeline.kafka_io without a broker: the key serializer and how client settings are assembled.

The kafka-python client classes are replaced by recorders of their keyword arguments, and
the SASL login check by a recorder of its calls; nothing connects anywhere.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from kafka.errors import TopicAlreadyExistsError

from pipeline import kafka_io
from pipeline.kafka_io import RECONNECT, KeySerializer


class Recorder:
    """Stands in for a kafka-python client class: keeps the keywords it was built with."""

    built: list[dict[str, Any]]

    def __init__(self, **kwargs: Any) -> None:
        type(self).built.append(kwargs)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Fake producer/consumer classes, a recorded login check and a clean KAFKA_* env."""
    for name in list(os.environ):
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    seen: dict[str, list[Any]] = {"producer": [], "consumer": [], "login": []}
    producer = type("P", (Recorder,), {"built": seen["producer"]})
    consumer = type("C", (Recorder,), {"built": seen["consumer"]})
    monkeypatch.setattr(kafka_io, "KafkaProducer", producer)
    monkeypatch.setattr(kafka_io, "KafkaConsumer", consumer)
    monkeypatch.setattr(kafka_io, "check_login", seen["login"].append)
    return seen


# --- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [("16107", b"16107"), ("31024_relais", b"31024_relais"),
     ("Saint-Mandé", b"Saint-Mand\xc3\xa9"), (b"raw", b"raw"), (None, None),
     ("", b"")],
)  # fmt: skip
def test_key_serializer(key: Any, expected: bytes | None) -> None:
    assert KeySerializer().serialize("velib.station_status", None, key) == expected


# --- settings -------------------------------------------------------------------------------


def test_producer_defaults(clients: dict[str, list[Any]]) -> None:
    kafka_io.producer("b1:9092,b2:9092")
    (settings,) = clients["producer"]
    assert settings["bootstrap_servers"] == "b1:9092,b2:9092"
    assert settings["compression_type"] == "gzip"
    assert isinstance(settings["key_serializer"], KeySerializer)
    assert settings["reconnect_backoff_max_ms"] == RECONNECT["reconnect_backoff_max_ms"] == 1000
    # idempotence and acks=all are kafka-python's defaults: left alone, never weakened
    assert "acks" not in settings and "enable_idempotence" not in settings
    assert clients["login"] == ["b1:9092,b2:9092"]  # the login is checked first


def test_consumer_defaults(clients: dict[str, list[Any]]) -> None:
    kafka_io.consumer("b:9092", "velib-capture")
    (settings,) = clients["consumer"]
    assert settings["group_id"] == "velib-capture"
    assert settings["auto_offset_reset"] == "earliest"
    assert settings["enable_auto_commit"] is False
    assert settings["reconnect_backoff_max_ms"] == 1000
    kafka_io.consumer("b:9092", None)
    assert clients["consumer"][1]["group_id"] is None


def test_environment_settings_pass_through_and_overrides_win(
    clients: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_REQUEST_TIMEOUT_MS", "5000")
    monkeypatch.setenv("KAFKA_RECONNECT_BACKOFF_MAX_MS", "2500")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "elsewhere:1")  # velib's own: not a setting
    monkeypatch.setenv("KAFKA_HEAP_OPTS", "-Xmx1G")  # the launch scripts': not a setting
    kafka_io.consumer("b:9092", "g", request_timeout_ms=100, auto_offset_reset="latest")
    (settings,) = clients["consumer"]
    assert settings["security_protocol"] == "SSL"
    assert settings["reconnect_backoff_max_ms"] == 2500  # the environment over the default
    assert settings["request_timeout_ms"] == 100  # an explicit override over the environment
    assert settings["auto_offset_reset"] == "latest"
    assert settings["bootstrap_servers"] == "b:9092"
    assert "heap_opts" not in settings and "bootstrap_servers" in settings


def test_a_secret_in_the_settings_is_masked_in_their_repr(
    clients: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD", "hunter2-xyz")
    settings = kafka_io._client_settings("b:9092")
    assert settings["sasl_plain_password"] == "hunter2-xyz"
    assert "hunter2-xyz" not in repr(settings)


# --- topics ----------------------------------------------------------------------------------


class FakeAdmin:
    topics: set[str] = set()
    instances: list[FakeAdmin] = []
    fail_with: Exception | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.created, self.closed = kwargs, [], False
        FakeAdmin.instances.append(self)

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    def create_topics(self, new: list[Any], wait_for_metadata: bool = False) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.created.extend(new)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def admin(clients: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    monkeypatch.setattr(FakeAdmin, "topics", {"velib.alerts"})
    monkeypatch.setattr(FakeAdmin, "instances", [])
    monkeypatch.setattr(FakeAdmin, "fail_with", None)
    monkeypatch.setattr(kafka_io, "KafkaAdminClient", FakeAdmin)
    monkeypatch.delenv("VELIB_TOPIC_REPLICATION", raising=False)
    return FakeAdmin


def test_ensure_topic_creates_a_missing_topic(
    admin: type[FakeAdmin], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kafka_io.ensure_topic("b:9092", "velib.station_status", partitions=6) is True
    (made,) = admin.instances
    (topic,) = made.created
    assert (topic.name, topic.num_partitions, topic.replication_factor) == (
        "velib.station_status", 6, 1,
    )  # fmt: skip
    assert made.closed and made.kwargs["bootstrap_servers"] == "b:9092"
    monkeypatch.setenv("VELIB_TOPIC_REPLICATION", "3")
    kafka_io.ensure_topic("b:9092", "velib.dead_letter")
    assert admin.instances[1].created[0].replication_factor == 3


def test_ensure_topic_leaves_an_existing_topic(admin: type[FakeAdmin]) -> None:
    assert kafka_io.ensure_topic("b:9092", "velib.alerts") is False
    assert admin.instances[0].created == [] and admin.instances[0].closed


def test_ensure_topic_lost_race_is_not_created(admin: type[FakeAdmin]) -> None:
    admin.fail_with = TopicAlreadyExistsError()
    assert kafka_io.ensure_topic("b:9092", "velib.station_status") is False
    assert admin.instances[0].closed


def test_ensure_topic_closes_the_admin_on_other_errors(admin: type[FakeAdmin]) -> None:
    admin.fail_with = RuntimeError("broker gone")
    with pytest.raises(RuntimeError, match="broker gone"):
        kafka_io.ensure_topic("b:9092", "velib.station_status")
    assert admin.instances[0].closed
