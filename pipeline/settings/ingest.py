"""``velib ingest``: where snapshots come from and where they go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.shared import (
    GBFS_BASE_URL,
    OPENDATA_URL,
    bootstrap_field,
    heartbeat_field,
    polls_topic_field,
    status_topic_field,
)


@dataclass(frozen=True)
class IngestSettings(Settings):
    """``velib ingest``: a source -> normalized records -> change detection -> Kafka."""

    SECTION = "ingest"
    source: str = opt(
        "gbfs",
        "where snapshots come from: live GBFS feed, live open-data API, "
        "or recorded files / an archive",
        choices=("gbfs", "opendata", "replay"),
    )
    path: Path | None = opt(
        None, "with --source replay: a recorded file, folder or archive", parse=as_path, flag=""
    )
    follow: bool = opt(False, "poll the live source until stopped (else one poll)", boolean=True)
    interval_s: float = opt(
        60.0, "seconds between live polls", param="interval_s", parse=as_positive, flag="--interval"
    )
    speed: float = opt(
        0.0,
        "replay speed-up: 0 = as fast as possible, 60 = a recorded minute per second",
        parse=as_non_negative,
    )
    heartbeat_s: float = heartbeat_field(
        "re-emit an unchanged station after this many observed "
        "seconds (0: never); the stream's stale_after must be >= 2x this",
        "heartbeat_s",
    )
    archive: Path | None = opt(
        None,
        "live: keep every poll's raw payloads here, compressed, replayable with --source replay",
        parse=as_path,
    )
    delivery_timeout_s: float = opt(
        120.0,
        "seconds the producer retries a record (a broker restart, a leader change) before "
        "ingest stops with the reason, e.g. NotEnoughReplicas",
        param="delivery_timeout_s",
        parse=as_positive,
        flag="--delivery-timeout",
    )
    no_restore: bool = opt(
        False, "do not rebuild change state from the topic at start-up", boolean=True
    )
    bootstrap_servers: str = bootstrap_field()
    topic: str = status_topic_field()
    dead_letter_topic: str = opt(
        "velib.dead_letter", "dead-letter topic", env="VELIB_TOPIC_DEAD_LETTER"
    )
    polls_topic: str = polls_topic_field()
    gbfs_url: str = opt(
        GBFS_BASE_URL, "GBFS base URL (it moved in 2023)", env="VELIB_GBFS_BASE_URL"
    )
    opendata_url: str = opt(OPENDATA_URL, "Paris open-data dataset URL", env="VELIB_OPENDATA_URL")

    def check(self) -> None:
        """Replay needs a path that exists; live sources take none."""
        if self.source == "replay":
            if self.path is None:
                raise SettingsError("--source replay needs a PATH (a recorded file or folder)")
            if not self.path.exists():
                raise SettingsError(f"no such file or folder: {self.path}")
            if self.follow or self.archive:
                raise SettingsError("--follow and --archive are for live sources")
        elif self.path is not None:
            raise SettingsError(f"PATH is only for --source replay (got {self.path})")
