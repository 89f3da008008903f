"""Settings shared by several stages: the Kafka fields, the heartbeat and the stale rule."""

from __future__ import annotations

from typing import Any

from pipeline.settings import project
from pipeline.settings.declare import SettingsError, opt
from pipeline.settings.declare import non_negative as as_non_negative

GBFS_BASE_URL = "https://velib-metropole-opendata.smovengo.cloud/opendata/Velib_Metropole"
OPENDATA_URL = (
    "https://opendata.paris.fr/api/explore/v2.1/catalog/datasets/velib-disponibilite-en-temps-reel"
)
HEARTBEAT_S = 3600.0  # ingest re-emits an unchanged station after this long (params: ingest)
STALE_AFTER = "2 hours"  # a station without a record for longer is unknown (params: stream)


def bootstrap_field(default: str | None = "localhost:9092", help: str | None = None) -> Any:  # noqa: A002
    """The Kafka bootstrap servers field (``KAFKA_BOOTSTRAP_SERVERS``), declared once."""
    return opt(
        default,
        help or "Kafka bootstrap servers, host:port[,host:port]",
        env="KAFKA_BOOTSTRAP_SERVERS",
    )


def status_topic_field() -> Any:
    """The station-status topic field (``VELIB_TOPIC_STATUS``), declared once."""
    return opt("velib.station_status", "station-status topic", env="VELIB_TOPIC_STATUS")


def polls_topic_field() -> Any:
    """The polls topic field (``VELIB_TOPIC_POLLS``): one message per snapshot read."""
    return opt(
        "velib.polls", "polls topic (one message per snapshot read)", env="VELIB_TOPIC_POLLS"
    )


def heartbeat_field(help: str, param: str) -> Any:  # noqa: A002
    """The ingest heartbeat field; ``velib run`` reads the same params.yaml key."""
    return opt(HEARTBEAT_S, help, param=param, parse=as_non_negative, flag="--heartbeat")


def check_stale_after(heartbeat_s: float, stale_after: str) -> None:
    """Refuse a stale threshold shorter than two heartbeats (one lost heartbeat would show).

    Raises:
        SettingsError: with both values, when ``stale_after < 2 * heartbeat_s``.
    """
    stale_s = project.parse_duration(stale_after).total_seconds()
    if heartbeat_s > 0 and stale_s < 2 * heartbeat_s:
        raise SettingsError(
            f"stream.stale_after ({stale_after}) must be at least twice the ingest heartbeat "
            f"({heartbeat_s:g} s): a station would turn unknown between two heartbeats"
        )
