"""Runtime settings (environment variables) and research parameters (params.yaml).

Environment variables carry where things run (broker, topics, feed URL);
``params.yaml`` carries what a result depends on (windows, thresholds), so DVC
can track it. Extra Kafka client settings pass through from ``KAFKA_*``
variables and are never logged; ``pipeline.kafka_security`` reads them once and
renders them for kafka-python and for Spark.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pipeline.kafka_security import KafkaSecurity, MaskedDict

ROOT = Path(__file__).resolve().parent.parent  # where this code and its reference data live


def project_root(start: Path | None = None) -> Path:
    """The project a notebook or DVC stage works in: the nearest folder with dvc.yaml.

    From ``start`` (default: the working directory, which papermill and DVC set)
    upwards; ``ROOT`` when there is none. A copy of the project (a test's, a
    clone's) reads its own data, not the installed package's.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return ROOT


PARAMS_FILE = ROOT / "params.yaml"

DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_GBFS_BASE_URL = "https://velib-metropole-opendata.smovengo.cloud/opendata/Velib_Metropole"
DEFAULT_OPENDATA_URL = (
    "https://opendata.paris.fr/api/explore/v2.1/catalog/datasets/velib-disponibilite-en-temps-reel"
)


def bootstrap_servers() -> str:
    """Kafka bootstrap servers, from KAFKA_BOOTSTRAP_SERVERS or localhost:9092."""
    return os.getenv("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)


def topic_status() -> str:
    """The station-status topic."""
    return os.getenv("VELIB_TOPIC_STATUS", "velib.station_status")


def topic_alerts() -> str:
    """The alerts topic written by the stream job."""
    return os.getenv("VELIB_TOPIC_ALERTS", "velib.alerts")


def topic_dead_letter() -> str:
    """Where rejected inputs go, with their reason."""
    return os.getenv("VELIB_TOPIC_DEAD_LETTER", "velib.dead_letter")


def gbfs_base_url() -> str:
    """GBFS base URL; configurable because it moved in 2023."""
    return os.getenv("VELIB_GBFS_BASE_URL", DEFAULT_GBFS_BASE_URL).rstrip("/")


def opendata_url() -> str:
    """Paris open-data dataset URL (Explore API v2.1)."""
    return os.getenv("VELIB_OPENDATA_URL", DEFAULT_OPENDATA_URL).rstrip("/")


def kafka_security(environ: dict[str, str] | None = None) -> KafkaSecurity:
    """The Kafka client settings of the ``KAFKA_*`` variables (repr masks the secrets)."""
    return KafkaSecurity.from_env(environ)


def kafka_client_settings(environ: dict[str, str] | None = None) -> MaskedDict:
    """Extra kafka-python settings from KAFKA_* variables (SASL/SSL for a managed cluster).

    ``KAFKA_SECURITY_PROTOCOL=SASL_SSL`` becomes ``security_protocol="SASL_SSL"``.
    Values pass through as strings, except digits (ints) and true/false (booleans)
    of settings that are not text (a password of digits stays a string).
    """
    return kafka_security(environ).client_settings()


def spark_kafka_options(environ: dict[str, str] | None = None) -> MaskedDict:
    """The same settings as Spark Kafka source/sink options (``run_stream(kafka_options=...)``).

    Raises:
        KafkaSecurityError: a setting Spark cannot take from these variables.
    """
    return kafka_security(environ).spark_options()


def load_params(path: Path | None = None) -> dict[str, Any]:
    """The whole params.yaml as a dict ({} when the file is absent)."""
    path = path or PARAMS_FILE
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def params_section(name: str, path: Path | None = None) -> dict[str, Any]:
    """One stage's parameters merged over the shared ``base`` section."""
    params = load_params(path)
    return {**params.get("base", {}), **params.get(name, {})}


def topic_replication() -> int:
    """Replication factor for topics velib creates (1 on a single local broker)."""
    return int(os.getenv("VELIB_TOPIC_REPLICATION", "1"))


_UNITS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_duration(text: str) -> timedelta:
    """A duration like '2 hours', '15 minutes', '30s' or '3600' (seconds) as a timedelta."""
    raw = str(text).strip().lower()
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = raw[len(number) :].strip()
    unit = unit[:-1] if unit.endswith("s") and unit not in ("s", "ms") else unit
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit and unit not in _UNITS or value != value:
        raise ValueError(f"bad duration {text!r}: use e.g. '30 minutes', '2 hours', '30s'")
    if value <= 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return timedelta(seconds=value * _UNITS.get(unit or "s", 1))


def spark_interval(text: str) -> str:
    """A duration as the interval text every Spark API accepts ('900 seconds')."""
    seconds = parse_duration(text).total_seconds()
    if seconds.is_integer():
        return f"{int(seconds)} seconds"
    return f"{int(seconds * 1000)} milliseconds"


def check_stale_after(heartbeat_s: float, stale_after: str) -> None:
    """Refuse a stale threshold shorter than two heartbeats (one lost heartbeat would show).

    Raises:
        ValueError: with both values, when ``stale_after < 2 * heartbeat_s``.
    """
    stale_s = parse_duration(stale_after).total_seconds()
    if heartbeat_s > 0 and stale_s < 2 * heartbeat_s:
        raise ValueError(
            f"stream.stale_after ({stale_after}) must be at least twice the ingest heartbeat "
            f"({heartbeat_s:g} s): a station would turn unknown between two heartbeats"
        )
