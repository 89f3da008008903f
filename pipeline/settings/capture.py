"""``velib capture``: the status topic -> CSV files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.declare import positive_int as as_positive_int
from pipeline.settings.shared import bootstrap_field, status_topic_field


@dataclass(frozen=True)
class CaptureSettings(Settings):
    """``velib capture``: the status topic -> CSV files, exactly once."""

    SECTION = "capture"
    out: Path = opt("data/interim/csv", "capture folder", param="out", parse=as_path)
    offsets: Path | None = opt(
        None,
        "resume points folder (default OUT/_offsets); delete it together with OUT",
        parse=as_path,
    )
    group: str = opt(
        "velib-capture", "consumer group (processes of a group share OUT)", param="group"
    )
    follow: bool = opt(False, "run until stopped (what happens without --until-idle)", boolean=True)
    until_idle_s: float | None = opt(
        None,
        "stop when nothing new arrives for this many seconds (default: run until stopped)",
        parse=as_positive,
        flag="--until-idle",
    )
    max_records: int = opt(
        100_000, "rows per file at most", param="max_records", parse=as_positive_int
    )
    max_seconds: float = opt(
        60.0,
        "publish a partition's file at most this long after its first row",
        param="max_seconds",
        parse=as_positive,
    )
    bootstrap_servers: str = bootstrap_field()
    topic: str = status_topic_field()

    def check(self) -> None:
        """--follow and --until-idle exclude each other."""
        if self.follow and self.until_idle_s is not None:
            raise SettingsError("--follow and --until-idle exclude each other")
