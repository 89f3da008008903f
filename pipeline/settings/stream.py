"""``velib stream``: the Spark job's topics, tables, window and stale rule."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import duration as as_duration
from pipeline.settings.declare import location as as_location
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import positive_int as as_positive_int
from pipeline.settings.shared import (
    HEARTBEAT_S,
    STALE_AFTER,
    bootstrap_field,
    check_stale_after,
    polls_topic_field,
    status_topic_field,
)


@dataclass(frozen=True)
class StreamSettings(Settings):
    """``velib stream``: Spark, the status topic -> Parquet tables, alerts topic."""

    SECTION = "stream"
    out: str = opt("data/processed", "output root, path or URI", param="out", parse=as_location)
    checkpoints: str | None = opt(
        None,
        "checkpoint root (default OUT/_checkpoints); delete it together with OUT",
        parse=as_location,
    )
    live: bool = opt(
        False,
        "run until stopped, one micro-batch every processing_time (else "
        "process what the topic holds, then stop)",
        boolean=True,
    )
    processing_time: str = opt(
        "30 seconds", "micro-batch interval when live", param="processing_time", parse=as_duration
    )
    window: str = opt(
        "15 minutes", "tumbling window of the indicators", param="window", parse=as_duration
    )
    stale_after: str = opt(
        STALE_AFTER,
        "a station without any record for longer is unknown",
        param="stale_after",
        parse=as_duration,
    )
    heartbeat_s: float = opt(
        HEARTBEAT_S,
        "the ingest heartbeat stale_after is held to (the ingest's own setting, read here)",
        param="ingest.heartbeat_s",
        parse=as_non_negative,
        flag="-",
    )
    starting_offsets: str = opt("earliest", "earliest | latest | Spark JSON offsets (first run)")
    max_offsets_per_trigger: int | None = opt(
        500_000,
        "records per micro-batch at most: a batch is parsed and cached whole, so this "
        "bounds Spark's memory; the tables do not depend on it",
        param="max_offsets_per_trigger",
        parse=as_positive_int,
    )
    master: str | None = opt(None, "Spark master (default local[2])", env="SPARK_MASTER")
    bootstrap_servers: str = bootstrap_field()
    topic: str = status_topic_field()
    alerts_topic: str = opt("velib.alerts", "alerts topic", env="VELIB_TOPIC_ALERTS")
    polls_topic: str = polls_topic_field()

    def check(self) -> None:
        """The stale threshold must cover two ingest heartbeats (params.yaml ingest.heartbeat_s)."""
        try:
            check_stale_after(self.heartbeat_s, self.stale_after)
        except SettingsError as exc:
            raise SettingsError(f"--stale-after: {exc}") from None
