"""Kafka clients built the same way everywhere: settings, serializers, topics.

Stages call these instead of constructing kafka-python clients themselves, so
pass-through security settings and defaults live in one place. With SASL, the
first client of a process checks the login (:func:`check_login`) so a refused
password is one clear error at once, not a 30-second "Unable to bootstrap".
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.serializer import Serializer

from pipeline import config
from pipeline.kafka_security import KafkaAuthError, auth_failure, library_loggers

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 15.0
_logged_in: set[tuple[str, str]] = set()


class _LoginWatch(logging.Filter):
    """Catch (and keep off the console) the log records of one login probe."""

    def __init__(self, client_id: str) -> None:
        super().__init__("velib-login-watch")
        self.threads = {f"kafka-io-{client_id}", f"velib-login-{client_id}"}
        self.reason: str | None = None
        self.done = threading.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the probe's records; note a refused login and stop waiting."""
        if record.threadName not in self.threads:
            return True
        causes = [a for a in (record.args or ()) if isinstance(a, BaseException)]
        for cause in causes:
            reason = auth_failure(cause)
            if reason is not None and self.reason is None:
                self.reason = reason
                self.done.set()
        return False


def check_login(bootstrap_servers: str, timeout_s: float = LOGIN_TIMEOUT_S) -> None:
    """Raise :class:`KafkaAuthError` at once when the cluster refuses our SASL login.

    kafka-python (3.0.12) retries a refused login until its bootstrap timeout and
    then reports only "Unable to bootstrap". This probe connects once in a thread,
    watches kafka-python's connection log for the broker's refusal and returns as
    soon as it sees it. It does nothing without SASL, and succeeds once per process
    and cluster; any other failure is left to the real client to report.

    Raises:
        KafkaAuthError: the broker refused the user, password or mechanism.
    """
    security = config.kafka_security()
    if security.mechanism is None:
        return
    key = (
        bootstrap_servers,
        hashlib.sha256(repr(sorted(security.settings.items())).encode()).hexdigest(),
    )
    if key in _logged_in:
        return
    client_id = f"velib-login-{uuid.uuid4().hex[:8]}"
    watch = _LoginWatch(client_id)
    # a slow retry pace: after a refusal the probe keeps trying in the background
    settings = {**security.client_settings(), "client_id": client_id, "reconnect_backoff_ms": 2000}
    outcome: dict[str, BaseException | None] = {}

    loggers = library_loggers(("kafka",))

    def probe() -> None:
        try:
            KafkaAdminClient(
                bootstrap_servers=bootstrap_servers,
                bootstrap_timeout_ms=int(timeout_s * 1000),
                **settings,
            ).close()
            outcome["error"] = None
        except Exception as exc:  # noqa: BLE001 - judged below, re-raised by the real client
            outcome["error"] = exc
        finally:
            # Removed only now: after a refusal the probe retries until its timeout,
            # and those retries must stay off the console too.
            for logger in loggers:
                logger.removeFilter(watch)
            watch.done.set()

    for logger in loggers:
        logger.addFilter(watch)
    threading.Thread(target=probe, name=f"velib-login-{client_id}", daemon=True).start()
    watch.done.wait(timeout_s + 5)
    if watch.reason is not None:
        user = security.username or "?"
        raise KafkaAuthError(
            f"Kafka at {bootstrap_servers} refused the login of {user!r} "
            f"({security.mechanism}): {watch.reason}"
        )
    if outcome.get("error", True) is None:
        _logged_in.add(key)


class KeySerializer(Serializer):
    """Station codes (str) to UTF-8 bytes; bytes and None pass through."""

    def serialize(self, topic: str, headers: Any, data: Any) -> bytes | None:
        """Encode one key."""
        return data.encode() if isinstance(data, str) else data


def _client_settings(bootstrap_servers: str) -> dict[str, Any]:
    """The environment's client settings, after the login check (secrets kept out of logs)."""
    check_login(bootstrap_servers)
    return config.kafka_security().client_settings()


def producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A producer with idempotence and acks=all left on, gzip compression, batching."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "compression_type": "gzip",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "key_serializer": KeySerializer(),
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return KafkaProducer(**settings)


def consumer(bootstrap_servers: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that starts at the earliest offset and never auto-commits."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        **_client_settings(bootstrap_servers),
        **overrides,
    }
    return KafkaConsumer(**settings)


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 3) -> bool:
    """Create the topic if missing; True when it was created.

    Replication comes from VELIB_TOPIC_REPLICATION (1 on a local broker).
    """
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **_client_settings(bootstrap_servers)
    )
    try:
        if name in admin.list_topics():
            return False
        admin.create_topics(
            [
                NewTopic(
                    name, num_partitions=partitions, replication_factor=config.topic_replication()
                )
            ],
            wait_for_metadata=True,
        )
        log.info("created topic %s with %d partitions", name, partitions)
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()
