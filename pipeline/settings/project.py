"""Runtime settings (environment variables) and research parameters (params.yaml).

Environment variables carry where things run (broker, topics, feed URL);
``params.yaml`` carries what a result depends on (windows, thresholds), so DVC
can track it. Extra Kafka client settings pass through from ``KAFKA_*``
variables and are never logged; ``pipeline.kafka.security`` reads them once and
renders them for kafka-python and for Spark.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]  # where this code and its reference data live


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
