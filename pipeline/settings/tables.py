"""``velib compact`` and ``velib history``: the stream's Delta tables kept tidy and listed.

The retention is declared here once: ``velib compact`` vacuums with it, the
daily policy of ``velib run --live`` runs that same command, and the stream
creates its tables with it as their log and removed-file retention, so Spark's
own log clean-up (and a Databricks ``VACUUM``) agree with ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import location as as_location
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import paths as as_paths
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.declare import positive_int as as_positive_int


@dataclass(frozen=True)
class CompactSettings(Settings):
    """``velib compact``: compact old date partitions, vacuum removed files."""

    SECTION = "compact"
    root: str = opt(
        "data/live/processed",
        "a Delta table, or a folder of them (the state table under _checkpoints included)",
        flag="",
        parse=as_location,
    )
    retain_hours: float = opt(
        168.0,
        "keep removed files and log entries this long (hours): time travel reaches back this far",
        param="retain_hours",
        env="VELIB_COMPACT_RETAIN_HOURS",
        parse=as_non_negative,
        flag="--retain",
    )
    state_retain_hours: float = opt(
        1.0,
        "the same for the stream's state table (rewritten every micro-batch, never "
        "travelled to); at least an hour, so no write still running loses its files",
        param="state_retain_hours",
        parse=as_non_negative,
        flag="-",
    )
    every_hours: float = opt(
        24.0,
        "velib run --live compacts and vacuums its tables this often (first at start)",
        param="every_hours",
        env="VELIB_COMPACT_EVERY_HOURS",
        parse=as_positive,
        flag="-",
    )

    def check(self) -> None:
        """A vacuum must never reach the files of a micro-batch still being written."""
        for name, hours in (
            ("--retain", self.retain_hours),
            ("compact.state_retain_hours", self.state_retain_hours),
        ):
            if hours < 1:
                raise SettingsError(f"{name}: must be at least 1 (hour), got {hours:g}")


# Where a project's Delta tables are (velib history without ROOT looks in each, at any depth):
# a live run's (velib run --live: run.live_dir/processed), a replay's own tables and state
# (velib run and the DVC stream stage: run.work_dir) and the stream's output root
# (velib stream, run.out, and one folder per recording beneath it when there are several).
# tests/unit/settings keeps them equal to RunSettings' defaults.
PROJECT_TABLES = ("data/live/processed", "data/run", "data/processed")


@dataclass(frozen=True)
class HistorySettings(Settings):
    """``velib history``: each Delta table's versions and what wrote them."""

    SECTION = "history"
    root: str | None = opt(
        None,
        "a Delta table, or a folder of them (default: the project's, under "
        + ", ".join(PROJECT_TABLES)
        + ")",
        flag="",
        parse=as_location,
    )
    places: tuple[Path, ...] = opt(
        PROJECT_TABLES,
        "where to look without ROOT, relative to the project root",
        flag="-",
        parse=as_paths,
    )
    last: int = opt(10, "show this many newest versions per table", parse=as_positive_int)
    state: bool = opt(
        False, "also list the stream's state table (under _checkpoints)", boolean=True
    )
