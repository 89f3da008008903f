"""Kafka clients built the same way everywhere: settings, serializers, topics.

Stages call these instead of constructing kafka-python clients themselves, so
pass-through security settings and defaults live in one place. With SASL, the
first client of a process checks the login (:func:`check_login`) so a refused
password is one clear error at once, not a 30-second "Unable to bootstrap".
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError
from kafka.serializer import Serializer

from pipeline.kafka.login import check_login
from pipeline.kafka.security import KafkaSecurity
from pipeline.settings.declare import UserError

log = logging.getLogger(__name__)

__all__ = ["KeySerializer", "check_login", "consumer", "ensure_topic", "producer"]


class KafkaUnreachable(UserError, ConnectionError):
    """No broker answers at the bootstrap servers given (one line: where, and what to do)."""


def _connect(make: Any, settings: dict[str, Any]) -> Any:
    """A kafka-python client, or :class:`KafkaUnreachable` when no broker answers."""
    try:
        return make(**settings)
    except KafkaTimeoutError as exc:
        if "Unable to bootstrap" not in str(exc):
            raise
        raise KafkaUnreachable(
            f"no Kafka broker answers at {settings['bootstrap_servers']}: start one (velib "
            "broker) or set KAFKA_BOOTSTRAP_SERVERS / --bootstrap-servers"
        ) from None


class KeySerializer(Serializer):
    """Station codes (str) to UTF-8 bytes; bytes and None pass through."""

    def serialize(self, topic: str, headers: Any, data: Any) -> bytes | None:
        """Encode one key."""
        return data.encode() if isinstance(data, str) else data


def _client_settings(bootstrap_servers: str) -> dict[str, Any]:
    """The environment's client settings, after the login check (secrets kept out of logs)."""
    check_login(bootstrap_servers)
    return KafkaSecurity.from_env().client_settings()


def topic_replication() -> int:
    """Replication factor of the topics velib creates (``VELIB_TOPIC_REPLICATION``, default 1).

    A property of the cluster, like the ``KAFKA_*`` client settings: 1 on the local broker.
    """
    return int(os.getenv("VELIB_TOPIC_REPLICATION", "1"))


# Back to the broker within a second of its restart (the Java clients' default);
# kafka-python's 30 s left a live ingest blocked on a dead letter for 20 s after one.
RECONNECT = {"reconnect_backoff_max_ms": 1000}


def producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A producer with idempotence and acks=all left on, gzip compression, batching."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "compression_type": "gzip",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "key_serializer": KeySerializer(),
        **RECONNECT,
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return _connect(KafkaProducer, settings)


def consumer(bootstrap_servers: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that starts at the earliest offset and never auto-commits."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        **RECONNECT,
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return _connect(KafkaConsumer, settings)


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 3) -> bool:
    """Create the topic if missing; True when it was created.

    Replication comes from VELIB_TOPIC_REPLICATION (1 on a local broker).
    """
    admin = _connect(
        KafkaAdminClient,
        {"bootstrap_servers": bootstrap_servers, **_client_settings(bootstrap_servers)},
    )
    try:
        if name in admin.list_topics():
            return False
        admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=topic_replication())],
            wait_for_metadata=True,
        )
        log.info("created topic %s with %d partitions", name, partitions)
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()
