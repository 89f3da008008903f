"""Kafka clients built the same way everywhere: settings, serializers, topics.

Stages call these instead of constructing kafka-python clients themselves, so
pass-through security settings and defaults live in one place. With SASL, the
first client of a process checks the login (:func:`check_login`) so a refused
password is one clear error at once, not a 30-second "Unable to bootstrap".
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    TopicAlreadyExistsError,
    UnknownBrokerIdError,
)
from kafka.serializer import Serializer

from pipeline.kafka.login import check_login
from pipeline.kafka.replicas import OffsetsUnavailable, explain
from pipeline.kafka.security import KafkaSecurity
from pipeline.settings.declare import UserError
from pipeline.settings.topics import TopicSettings

log = logging.getLogger(__name__)

__all__ = ["KeySerializer", "abandon", "check_login", "consumer", "ensure_topic", "producer"]


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


# Back to the broker within a second of its restart (the Java clients' default);
# kafka-python's 30 s left a live ingest blocked on a dead letter for 20 s after one.
RECONNECT = {"reconnect_backoff_max_ms": 1000}

# Riding through a leader change. A client that meets NotLeaderForPartition or a
# closed connection refreshes its metadata at once; metadata.max.age bounds how
# long it can keep talking to a leader that is no longer preferred (after a
# killed broker rejoins and takes its partitions back) without any error.
FAILOVER = {"metadata_max_age_ms": 30_000}


def producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A producer with idempotence and acks=all, gzip compression, batching.

    Both are said explicitly (they are kafka-python's defaults too): a ``KAFKA_ACKS=1``
    or an override that would quietly turn idempotence off is then an error at
    start, not duplicates at the next leader change. A retried batch after a
    broker's death is written once (the idempotent producer's sequence numbers),
    and an acknowledged one is on every in-sync replica.
    """
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": "gzip",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "key_serializer": KeySerializer(),
        **RECONNECT,
        **FAILOVER,
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return _connect(KafkaProducer, settings)


def abandon(producer: KafkaProducer, timeout_s: float = 5.0) -> None:
    """Close a producer without waiting for what the cluster refuses (the caller resends it).

    kafka-python's ``close(timeout=0)`` flushes first and raises on the records still
    pending, leaving its I/O thread running; so the thread is stopped first (its
    pending batches fail) and the producer closed after.
    """
    sender = getattr(producer, "_sender", None)
    if sender is not None and sender.is_alive():
        sender.force_close()
        sender.join(timeout_s)
    try:
        producer.close(timeout=0)
    except KafkaTimeoutError:
        log.debug("producer closed with records still pending")


RETRY_S = 60.0  # a refused connection to one broker is retried through the others this long
_REFUSED = (KafkaConnectionError, NodeNotReadyError)


def _retrying(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(...)``, again while a broker refuses the connection, for :data:`RETRY_S`.

    kafka-python's synchronous metadata calls (topic partitions, end offsets, the
    admin client's topic list) raise on the first refusal of the node they picked,
    which after a ``kill -9`` can be the dead broker until the controller fences
    it (seconds); the next attempt picks a live one.
    """
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            return call(*args, **kwargs)
        except _REFUSED as exc:
            if time.monotonic() > deadline:
                raise
            log.debug("%s: %s; retrying", getattr(call, "__name__", call), exc)
            time.sleep(0.5)


# Why a partition's end can stay unknown with its leader alive: a leader elected while the
# partition is below min.insync.replicas does not advance its high watermark (Kafka 4's
# eligible leader replicas, KIP-966). A follower learns the leader's high watermark one fetch
# late, so one promoted right after a write starts below its epoch's first offset, and
# answers ListOffsets with OFFSET_NOT_AVAILABLE until a replica returns; kafka-python
# retries that until its request timeout. The partition's tail is then unreadable, so the
# reader stops with the missing replicas rather than a resume point it cannot know.
ENDS_UNKNOWN = (
    "a leader elected below that minimum cannot say where its partition ends until a "
    "replica returns, so nothing was read"
)


class FailoverConsumer(KafkaConsumer):
    """A KafkaConsumer whose synchronous metadata calls ride through a dead broker."""

    def poll(
        self, timeout_ms: int = 0, max_records: Any = None, update_offsets: bool = True
    ) -> Any:
        """Records, as ``KafkaConsumer.poll``; a fetch to a broker just fenced is retried.

        kafka-python picks a fetch's broker from the partition's leader in its metadata;
        a refresh can drop a killed broker from the broker list while a partition still
        names it leader. Its send then raises ``UnknownBrokerIdError`` out of ``poll``
        (capture died of it in the failover test) after marking that broker as having
        a fetch in flight, which would skip it for good once it leads again. The broker
        is freed, the metadata refreshed, and this poll returns nothing.
        """
        try:
            return super().poll(timeout_ms, max_records, update_offsets)
        except UnknownBrokerIdError as exc:
            node = exc.args[0] if exc.args else None
            pending = getattr(self._fetcher, "_nodes_with_pending_fetch_requests", None)
            if isinstance(pending, set):
                pending.discard(node)
            self._cluster.request_update()
            log.info("broker %s left the metadata while leading a partition; refreshing", node)
            time.sleep(min(timeout_ms / 1000, 0.5))
            return {}

    def partitions_for_topic(self, topic: str) -> Any:
        """The topic's partitions (retried while a broker refuses the connection)."""
        return _retrying(super().partitions_for_topic, topic)

    def end_offsets(self, partitions: Any, timeout_ms: Any = None) -> Any:
        """End offsets (retried while a broker refuses the connection).

        Raises:
            OffsetsUnavailable: the cluster did not say in time; one line naming the
                missing replicas when that is why (see :data:`ENDS_UNKNOWN`).
        """
        return self._offsets(super().end_offsets, partitions, timeout_ms)

    def beginning_offsets(self, partitions: Any, timeout_ms: Any = None) -> Any:
        """Beginning offsets (retried while a broker refuses the connection).

        Raises:
            OffsetsUnavailable: as :meth:`end_offsets`.
        """
        return self._offsets(super().beginning_offsets, partitions, timeout_ms)

    def _offsets(self, call: Any, partitions: Any, timeout_ms: Any) -> Any:
        try:
            return _retrying(call, partitions, timeout_ms)
        except KafkaTimeoutError as exc:
            topics = sorted({tp.topic for tp in partitions})
            line = explain(
                self.config["bootstrap_servers"],
                topics,
                exc,
                consequence=ENDS_UNKNOWN,
                failed=f"could not read where {', '.join(topics)} starts or ends",
            )
            raise OffsetsUnavailable(line) from exc

    def committed(self, partition: Any, metadata: bool = False, timeout_ms: Any = None) -> Any:
        """The group's committed offset (retried while a broker refuses the connection)."""
        return _retrying(super().committed, partition, metadata, timeout_ms)


def consumer(bootstrap_servers: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that starts at the earliest offset and never auto-commits."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        **RECONNECT,
        **FAILOVER,
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return _connect(FailoverConsumer, settings)


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 3) -> bool:
    """Create the topic if missing; True when it was created.

    Replication and ``min.insync.replicas`` come from :class:`TopicSettings`,
    derived from the cluster's broker count unless set (1 on a local broker;
    3 and 2 on three brokers or more). A broker that refuses the connection (one
    of a cluster just killed, the admin client's pick) is retried through the
    others for :data:`RETRY_S`.
    """
    return _retrying(_ensure_topic, bootstrap_servers, name, partitions)


def _ensure_topic(bootstrap_servers: str, name: str, partitions: int) -> bool:
    admin = _connect(
        KafkaAdminClient,
        {"bootstrap_servers": bootstrap_servers, **_client_settings(bootstrap_servers)},
    )
    try:
        if name in admin.list_topics():
            return False
        brokers = len(admin.describe_cluster()["brokers"])
        replication, min_insync = TopicSettings.build().resolve(brokers)
        configs = {"min.insync.replicas": str(min_insync)} if replication > 1 else {}
        admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=replication,
                    topic_configs=configs,
                )
            ],
            wait_for_metadata=True,
        )
        log.info(
            "created topic %s with %d partitions, replication %d%s",
            name,
            partitions,
            replication,
            f", min.insync.replicas {min_insync}" if configs else "",
        )
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()
