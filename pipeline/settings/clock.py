"""The local zone: the one setting behind every Paris date and hour (params.yaml ``base``).

It is not a display preference: Paris dates select the snapshots of a recording
(``base.dates``, ``velib compare --a-dates``), Paris hours and day types are
the forecast's features and the research figures' hours of the day. Everything
stored stays UTC; :mod:`pipeline.clock` converts with this zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.settings.declare import Settings, opt

DEFAULT_ZONE = "Europe/Paris"


def as_zone(value: Any) -> str:
    """An IANA zone name this machine knows (``Europe/Paris``)."""
    name = str(value).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name: Europe/Paris)") from None
    return name


@dataclass(frozen=True)
class ClockSettings(Settings):
    """The zone of every local date and hour (not a command of its own)."""

    SECTION = "base"
    timezone: str = opt(
        DEFAULT_ZONE,
        "the local zone of dates and hours: recordings are selected by its dates, the "
        "forecast and the figures use its hours",
        param="timezone",
        parse=as_zone,
        flag="-",
    )
