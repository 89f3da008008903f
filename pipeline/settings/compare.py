"""``velib compare``: the two sides and how they are compared."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import duration as as_duration
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.shared import STALE_AFTER


@dataclass(frozen=True)
class CompareSettings(Settings):
    """``velib compare``: two snapshot sets, stations and availability, said when."""

    SECTION = "compare"
    a: str | None = opt(
        None, "snapshot set A: recorded files/folder, archive or processed root", param="a", flag=""
    )
    b: str | None = opt(None, "snapshot set B", param="b", flag="")
    rev_a: str | None = opt(None, "read A at this git revision (dvc.api)")
    rev_b: str | None = opt(None, "read B at this git revision (dvc.api)")
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
        """Both sides are named; local ones exist."""
        for side, rev in ((self.a, self.rev_a), (self.b, self.rev_b)):
            if side is None:
                raise SettingsError("compare needs two snapshot sets, A and B")
            if rev is None and not Path(side).exists():
                raise SettingsError(f"no such file or folder: {side}")
