"""How the topics velib creates are replicated: derived from the cluster's size by default.

One broker (the local default): replication 1, the broker's own ``min.insync.replicas``.
Three brokers or more (``velib broker --brokers 3``, a real cluster): replication 3
and ``min.insync.replicas`` 2, so one broker can die without a write being refused
or an acknowledged record being lost, and two down refuses writes
(``NotEnoughReplicas``) rather than keeping a single copy. Both can be set
(``VELIB_TOPIC_REPLICATION``, ``VELIB_TOPIC_MIN_INSYNC``), like the ``KAFKA_*``
client settings: they describe the cluster, not a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.settings.declare import Settings, SettingsError, opt

MAX_DERIVED_REPLICATION = 3


def _count(value: Any) -> int:
    """A whole number >= 0 (0: derive it from the cluster)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"must be >= 0, got {number}")
    return number


@dataclass(frozen=True)
class TopicSettings(Settings):
    """Replication of the topics velib creates (status, polls, dead letters, alerts)."""

    SECTION = "topics"
    replication: int = opt(
        0,
        "replication factor of created topics; 0: the cluster's broker count, 3 at most",
        env="VELIB_TOPIC_REPLICATION",
        parse=_count,
        flag="-",
    )
    min_insync: int = opt(
        0,
        "min.insync.replicas of created topics; 0: 2 with 3 replicas or more, else 1",
        env="VELIB_TOPIC_MIN_INSYNC",
        parse=_count,
        flag="-",
    )

    def resolve(self, brokers: int) -> tuple[int, int]:
        """(replication, min.insync.replicas) for a cluster of ``brokers`` brokers.

        Raises:
            SettingsError: a min ISR above the replication (no write could ever succeed).
        """
        replication = self.replication or min(MAX_DERIVED_REPLICATION, max(1, brokers))
        min_insync = self.min_insync or (2 if replication >= MAX_DERIVED_REPLICATION else 1)
        if min_insync > replication:
            raise SettingsError(
                f"VELIB_TOPIC_MIN_INSYNC={min_insync} is above the replication factor "
                f"{replication}: every write would be refused"
            )
        return replication, min_insync
