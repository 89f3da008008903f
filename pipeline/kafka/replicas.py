"""Why a write was refused: the partitions whose in-sync replicas fell below the minimum.

A producer with ``acks=all`` retries ``NotEnoughReplicas`` until its delivery
timeout and then reports only an expired batch. What a user needs to read is
which replicas are missing, so after a failed delivery the cluster is asked
(:func:`missing_replicas`) and the answer becomes the one line
:class:`DeliveryFailed` carries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kafka.errors import KafkaError

log = logging.getLogger(__name__)


class DeliveryFailed(KafkaError):
    """Records were not acknowledged by the cluster; the message is one line saying why."""

    retriable = False

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "delivery to Kafka failed"


class OffsetsUnavailable(KafkaError):
    """Where a topic starts or ends could not be read; the message is one line saying why."""

    retriable = False

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "Kafka did not say where the topic ends"


def _min_insync(admin: Any, topics: list[str]) -> dict[str, int]:
    """Each topic's ``min.insync.replicas`` (1 when the cluster will not say)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    found = dict.fromkeys(topics, 1)
    try:
        answer = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, t, configs={"min.insync.replicas": None})
                for t in topics
            ],
            config_filter="all",
        )
    except KafkaError as exc:
        log.debug("describe_configs failed: %s", exc)
        return found
    for name, configs in (answer.get("topic") or {}).items():
        entry = configs.get("min.insync.replicas")
        value = entry.get("value") if isinstance(entry, dict) else entry
        if value is not None:
            found[name] = int(value)
    return found


REFUSED_WRITES = "the cluster refused the writes, nothing of them was acknowledged"


def missing_replicas(
    admin: Any, topics: Iterable[str], consequence: str = REFUSED_WRITES
) -> str | None:
    """One line naming the partitions below ``min.insync.replicas`` and the replicas missing.

    Args:
        admin: a ``KafkaAdminClient`` of the cluster.
        topics: the topics the failed writes (or reads of their ends) went to.
        consequence: what the shortage did, closing the line.

    Returns:
        ``NotEnoughReplicas: ...`` or None when every partition has enough in-sync replicas.
    """
    names = sorted(set(topics))
    minimum = _min_insync(admin, names)
    short: list[str] = []
    missing: set[int] = set()
    for topic in admin.describe_topics(names):
        need = minimum.get(topic["name"], 1)
        for part in sorted(topic["partitions"], key=lambda p: p["partition_index"]):
            isr, replicas = set(part["isr_nodes"]), set(part["replica_nodes"])
            if len(isr) < need:
                short.append(f"{topic['name']}[{part['partition_index']}]")
                missing |= replicas - isr
    if not short:
        return None
    brokers = ", ".join(str(b) for b in sorted(missing))
    return (
        f"NotEnoughReplicas: {len(short)} partition(s) have fewer in-sync replicas than "
        f"min.insync.replicas={max(minimum.values())} ({', '.join(short[:6])}"
        f"{', ...' if len(short) > 6 else ''}); replicas missing on broker(s) {brokers}: "
        f"{consequence}"
    )


def explain(
    bootstrap_servers: str,
    topics: Iterable[str],
    error: BaseException,
    consequence: str = REFUSED_WRITES,
    failed: str = "delivery to Kafka failed",
) -> str:
    """The one line for a failed delivery: the missing replicas if that is why, else the error.

    ``consequence`` closes a NotEnoughReplicas line; ``failed`` opens any other
    (what could not be done: a delivery, reading where a topic ends).
    """
    from kafka import KafkaAdminClient

    from pipeline.kafka.security import KafkaSecurity

    text = str(error)
    name = type(error).__name__
    cause = (text if text.startswith(name) else f"{name}: {text}").splitlines()[0]
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=10_000,
            **KafkaSecurity.from_env().client_settings(),
        )
    except KafkaError:
        return f"{failed} ({cause}); the cluster does not answer"
    try:
        found = missing_replicas(admin, topics, consequence)
    except KafkaError as exc:
        found = None
        log.debug("could not describe %s: %s", list(topics), exc)
    finally:
        admin.close()
    return f"{found} ({cause})" if found else f"{failed}: {cause}"
