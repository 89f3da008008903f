"""A recording's manifest: the clock in its file names, their zone, how to tell a re-read.

A recording whose answers carry no poll time of their own (the 5-minute open-data
recording of November 2024: its ``duedate`` lags the poll by 38 minutes and goes
backwards) is timed by its collector's clock, which only the file names hold. A
``recording.yaml`` beside the files says how to read it::

    names: velib_data_%Y%m%d_%H%M%S   # the time in a file's name (strptime directives)
    zone: Europe/Paris                # the zone of that time (IANA name)
    format: opendata-api              # what every file is (checked against its content)
    rereads: unchanged                # identical | unchanged (see pipeline.sources.sequence)

A folder without one is read with :data:`DEFAULT`: UTC times in names like
``velib-opendata-2022-05-12T102218Z.csv.gz`` (every recording of ``data/raw``
before 2024), re-reads by identical content only. The clock is never the file's
modification time and never a time inside the answer when a manifest is there.

The recording's zone is a property of the data (its collector's clock), not the
project's display zone: it is read with :mod:`zoneinfo` from the manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipeline.clock import local_to_utc

MANIFEST = "recording.yaml"
REREAD_RULES = ("identical", "unchanged")
FORMATS = ("opendata-api", "opendata-csv", "opendata-v1", "gbfs")  # replay:<format> sources
_TWO = r"\d{2}"
_DIRECTIVES = {"Y": r"\d{4}", "m": _TWO, "d": _TWO, "H": _TWO, "M": _TWO, "S": _TWO}


class ManifestError(ValueError):
    """A manifest that cannot be read, or a file name that does not carry its clock."""


@dataclass(frozen=True)
class Manifest:
    """How a recording folder is read (see the module docstring)."""

    names: str = "%Y-%m-%dT%H%M%SZ"
    zone: str = "UTC"
    format: str | None = None
    rereads: str = "identical"

    def __post_init__(self) -> None:
        """Refuse a manifest the reader cannot follow, with the reason."""
        used = set(re.findall(r"%(.)", self.names))
        if not {"Y", "m", "d", "H", "M"} <= used or used - set(_DIRECTIVES):
            raise ManifestError(
                f"names {self.names!r}: needs %Y %m %d %H %M (and may use %S), nothing else"
            )
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ManifestError(f"zone {self.zone!r} is not an IANA time zone") from None
        if self.rereads not in REREAD_RULES:
            raise ManifestError(f"rereads {self.rereads!r}: one of {', '.join(REREAD_RULES)}")
        if self.format is not None and self.format not in FORMATS:
            raise ManifestError(f"format {self.format!r}: one of {', '.join(FORMATS)}")

    @property
    def pattern(self) -> re.Pattern[str]:
        """The regular expression of :attr:`names` (found anywhere in a file name)."""
        parts = re.split(r"(%.)", self.names)
        return re.compile(
            "".join(_DIRECTIVES[p[1]] if p.startswith("%") else re.escape(p) for p in parts)
        )

    def name_time(self, name: str) -> datetime | None:
        """The UTC instant in a file name, or None when the name carries no time.

        Raises:
            ClockError: the name's local time is ambiguous or nonexistent in the zone.
        """
        match = self.pattern.search(name)
        if match is None:
            return None
        try:
            naive = datetime.strptime(match.group(0), self.names)  # noqa: DTZ007 - zone next
        except ValueError:  # 2024-13-45 and the like: no time at all
            return None
        return local_to_utc(naive, self.zone)


DEFAULT = Manifest()


def parse_manifest(data: Any, where: str = MANIFEST) -> Manifest:
    """A manifest from its YAML mapping (unknown keys refused, so a typo is not ignored).

    Raises:
        ManifestError: not a mapping, an unknown key, or a value the reader cannot follow.
    """
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: a mapping of names, zone, format, rereads")
    known = {f.name for f in fields(Manifest)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        return Manifest(**{k: str(v) for k, v in data.items() if v is not None})
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None


@lru_cache(maxsize=256)
def _manifest_in(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        return DEFAULT
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    return parse_manifest(data, str(path))


def manifest_of(path: Path) -> Manifest:
    """The manifest of a recorded file (its folder's ``recording.yaml``) or of a folder.

    Raises:
        ManifestError: the folder's manifest is unreadable or invalid.
    """
    path = Path(path)
    return _manifest_in((path if path.is_dir() else path.parent).resolve())
