"""``velib compare``: the two sides and how they are compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import duration as as_duration
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import version_or_time as as_version_or_time
from pipeline.settings.shared import STALE_AFTER


@dataclass(frozen=True)
class CompareSettings(Settings):
    """``velib compare``: two snapshot sets, stations and availability, said when."""

    SECTION = "compare"
    a: str | None = opt(
        None,
        "snapshot set A: recorded files/folder, archive or processed root; a root of Delta "
        "tables may end in @VERSION or @TIME (data/live/processed@12)",
        param="a",
        flag="",
    )
    b: str | None = opt(None, "snapshot set B (@VERSION or @TIME too)", param="b", flag="")
    rev_a: str | None = opt(None, "read A at this git revision (dvc.api)")
    rev_b: str | None = opt(None, "read B at this git revision (dvc.api)")
    a_as_of: int | datetime | None = opt(
        None,
        "read A's Delta status table as it was at this version (exact; velib history lists "
        "them) or time (ISO, UTC unless an offset is given; approximate: the version whose "
        "log file was last written before it, by file modification time, which a copy "
        "without times moves)",
        parse=as_version_or_time,
    )
    b_as_of: int | datetime | None = opt(
        None, "read B's Delta status table at this version or time", parse=as_version_or_time
    )
    a_dates: str | None = opt(
        None, "keep A's snapshots taken on these Paris (Europe/Paris) dates, FROM[:TO]"
    )
    b_dates: str | None = opt(
        None, "keep B's snapshots taken on these Paris (Europe/Paris) dates, FROM[:TO]"
    )
    out: Path = opt("reports/compare", "report folder", param="out", parse=as_path)
    metrics: Path | None = opt(None, "also write the summary as metrics JSON", parse=as_path)
    move_threshold_m: float = opt(
        50.0,
        "a station moved if it shifted more than this (metres)",
        param="move_threshold_m",
        parse=as_non_negative,
        flag="--move-threshold",
    )
    renumber_within_m: float = opt(
        50.0,
        "a removed and an added station this close (metres) are one station renumbered",
        param="renumber_within_m",
        parse=as_non_negative,
        flag="--renumber-within",
    )
    stale_after: str = opt(
        STALE_AFTER,
        "a station's record counts this long",
        flag="-",
        param="stream.stale_after",
        parse=as_duration,
    )

    def check(self) -> None:
        """Both sides are named, at most one way of time travel each; local ones exist."""
        for name, side, rev, as_of in (
            ("A", self.a, self.rev_a, self.a_as_of),
            ("B", self.b, self.rev_b, self.b_as_of),
        ):
            if side is None:
                raise SettingsError("compare needs two snapshot sets, A and B")
            path, at = split_at(side)
            if at is not None and as_of is not None:
                raise SettingsError(f"{name}: give {side} or --{name.lower()}-as-of, not both")
            if rev is None and not Path(path).exists():
                raise SettingsError(f"no such file or folder: {path}")

    def side(self, name: str) -> tuple[str, int | datetime | None]:
        """Side ``A`` or ``B`` as (path, version or time to read it at)."""
        given, as_of = (self.a, self.a_as_of) if name == "A" else (self.b, self.b_as_of)
        path, at = split_at(str(given))
        return path, as_of if at is None else at


def split_at(text: str) -> tuple[str, int | datetime | None]:
    """``data/live/processed@12`` -> (``data/live/processed``, 12); without ``@``: (text, None).

    A path that exists as written keeps its ``@`` (a folder may be named so).
    """
    head, sep, tail = text.rpartition("@")
    if not sep or not head or Path(text).exists():
        return text, None
    try:
        return head, as_version_or_time(tail)
    except ValueError as exc:
        raise SettingsError(f"{text}: {exc}") from None
