"""The settings of every stage: one frozen object each, every default and check here.

Built by ``XSettings.build(overrides)`` in one order — code defaults <-
params.yaml (``base`` + the stage's section) <- environment <- overrides — by
every caller alike: the ``velib`` command (its options are generated from
these declarations), ``velib run``, the DVC stages, ``bench`` and notebooks.
See :mod:`pipeline.settings.declare` for the machinery. Kafka security settings
(``KAFKA_*``) are read by :mod:`pipeline.kafka.security`, never stored here,
so a settings object can be logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.settings import project
from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import duration as as_duration
from pipeline.settings.declare import location as as_location
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import paths as as_paths
from pipeline.settings.declare import port as as_port
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.declare import positive_int as as_positive_int

__all__ = [
    "BrokerSettings",
    "CaptureSettings",
    "CompareSettings",
    "FeedSettings",
    "IngestSettings",
    "RunSettings",
    "Settings",
    "SettingsError",
    "StreamSettings",
]

GBFS_BASE_URL = "https://velib-metropole-opendata.smovengo.cloud/opendata/Velib_Metropole"
OPENDATA_URL = (
    "https://opendata.paris.fr/api/explore/v2.1/catalog/datasets/velib-disponibilite-en-temps-reel"
)
HEARTBEAT_S = 3600.0  # ingest re-emits an unchanged station after this long (params: ingest)
STALE_AFTER = "2 hours"  # a station without a record for longer is unknown (params: stream)


def _bootstrap(default: str | None = "localhost:9092", help: str | None = None) -> Any:  # noqa: A002
    return opt(
        default,
        help or "Kafka bootstrap servers, host:port[,host:port]",
        env="KAFKA_BOOTSTRAP_SERVERS",
    )


def _status_topic() -> Any:
    return opt("velib.station_status", "station-status topic", env="VELIB_TOPIC_STATUS")


def _heartbeat(help: str, param: str) -> Any:  # noqa: A002
    return opt(HEARTBEAT_S, help, param=param, parse=as_non_negative, flag="--heartbeat")


def check_stale_after(heartbeat_s: float, stale_after: str) -> None:
    """Refuse a stale threshold shorter than two heartbeats (one lost heartbeat would show).

    Raises:
        SettingsError: with both values, when ``stale_after < 2 * heartbeat_s``.
    """
    stale_s = project.parse_duration(stale_after).total_seconds()
    if heartbeat_s > 0 and stale_s < 2 * heartbeat_s:
        raise SettingsError(
            f"stream.stale_after ({stale_after}) must be at least twice the ingest heartbeat "
            f"({heartbeat_s:g} s): a station would turn unknown between two heartbeats"
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
    heartbeat_s: float = _heartbeat(
        "re-emit an unchanged station after this many observed "
        "seconds (0: never); the stream's stale_after must be >= 2x this",
        "heartbeat_s",
    )
    archive: Path | None = opt(
        None,
        "live: keep every poll's raw payloads here, compressed, replayable with --source replay",
        parse=as_path,
    )
    no_restore: bool = opt(
        False, "do not rebuild change state from the topic at start-up", boolean=True
    )
    bootstrap_servers: str = _bootstrap()
    topic: str = _status_topic()
    dead_letter_topic: str = opt(
        "velib.dead_letter", "dead-letter topic", env="VELIB_TOPIC_DEAD_LETTER"
    )
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


@dataclass(frozen=True)
class CaptureSettings(Settings):
    """``velib capture``: the status topic -> CSV files, exactly once."""

    SECTION = "capture"
    out: Path = opt("data/interim/csv", "capture folder", param="out", parse=as_path)
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
    bootstrap_servers: str = _bootstrap()
    topic: str = _status_topic()

    def check(self) -> None:
        """--follow and --until-idle exclude each other."""
        if self.follow and self.until_idle_s is not None:
            raise SettingsError("--follow and --until-idle exclude each other")


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
    starting_offsets: str = opt("earliest", "earliest | latest | Spark JSON offsets (first run)")
    max_offsets_per_trigger: int | None = opt(
        None, "records per micro-batch at most", parse=as_positive_int
    )
    master: str | None = opt(None, "Spark master (default local[2])", env="SPARK_MASTER")
    bootstrap_servers: str = _bootstrap()
    topic: str = _status_topic()
    alerts_topic: str = opt("velib.alerts", "alerts topic", env="VELIB_TOPIC_ALERTS")

    def check(self) -> None:
        """The stale threshold must cover two ingest heartbeats (params.yaml)."""
        try:
            check_stale_after(IngestSettings.build().heartbeat_s, self.stale_after)
        except SettingsError as exc:
            raise SettingsError(f"--stale-after: {exc}") from None


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
    a_dates: str | None = opt(None, "keep A's snapshots of these UTC dates, FROM[:TO]")
    b_dates: str | None = opt(None, "keep B's snapshots of these UTC dates, FROM[:TO]")
    out: Path = opt("reports/compare", "report folder", param="out", parse=as_path)
    metrics: Path | None = opt(None, "also write the summary as metrics JSON", parse=as_path)
    move_threshold_m: float = opt(
        50.0,
        "a station moved if it shifted more than this (metres)",
        param="move_threshold_m",
        parse=as_non_negative,
        flag="--move-threshold",
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


@dataclass(frozen=True)
class BrokerSettings(Settings):
    """``velib broker``: a local single-node Apache Kafka (KRaft)."""

    SECTION = "broker"
    host: str = opt("127.0.0.1", "listen address")
    port: int = opt(9092, "client port; 0 picks a free one", parse=as_port)
    data_dir: Path | None = opt(
        None, "keep the log segments here (default: a temporary folder)", parse=as_path
    )
    heap: str = opt("512m", "JVM max heap")
    sasl: bool = opt(
        False,
        "clients log in with SCRAM-SHA-512 over SASL_PLAINTEXT; the "
        "credentials go to DATA_DIR/client.env (0600)",
        boolean=True,
    )


@dataclass(frozen=True)
class FeedSettings(Settings):
    """``velib feed serve``: a recording served on loopback as the live feeds would answer."""

    SECTION = "feed"
    recording: Path | None = opt(
        None, "recorded snapshots to serve (file or folder)", parse=as_path, flag=""
    )
    speed: float = opt(
        60.0, "recorded seconds per real second; 0 holds the first snapshot", parse=as_non_negative
    )
    port: int = opt(0, "port on 127.0.0.1; 0 picks a free one", parse=as_port)
    faults: str = opt(
        "none",
        "none | each | each:KIND,... | KIND,... (5% of requests each) | "
        "KIND=RATE,...; kinds: 5xx, 429, slow, truncated, html, info_change, "
        "moved, backwards",
    )
    seed: int = opt(0, "fault seed (the same seed and requests give the same faults)", parse=int)
    ledger: Path | None = opt(None, "append one JSON line per request answered", parse=as_path)

    def check(self) -> None:
        """A recording that exists."""
        if self.recording is None or not self.recording.exists():
            raise SettingsError(f"no such recording: {self.recording or '(none given)'}")


@dataclass(frozen=True)
class RunSettings(Settings):
    """``velib run``: broker, ingest, capture and stream as one job (what DVC runs)."""

    SECTION = "run"
    raw: tuple[Path, ...] = opt(
        ("data/raw/opendata-history",),
        "recorded files, folders or archives to replay",
        param="base.recording",
        parse=as_paths,
    )
    csv_out: Path = opt("data/interim/csv", "capture folder (rewritten)", parse=as_path)
    out: str = opt(
        "data/processed", "Parquet root with its checkpoints (rewritten)", parse=as_location
    )
    metrics: Path | None = opt("reports/metrics/stream.json", "metrics JSON", parse=as_path)
    heartbeat_s: float = _heartbeat("ingest heartbeat (seconds)", "ingest.heartbeat_s")
    idle_s: float = opt(5.0, "capture stops after this long with nothing new", flag="-")
    bootstrap_servers: str | None = opt(
        None,
        "use this Kafka cluster instead of starting a local broker",
        env="KAFKA_BOOTSTRAP_SERVERS",
    )
    live: bool = opt(
        False,
        "collect live until Ctrl-C: broker, live ingest with its archive, capture and stream "
        "as one supervised process tree (outputs under LIVE_DIR, resumed on restart)",
        boolean=True,
    )
    live_dir: Path = opt(
        "data/live",
        "live: where the archive, CSV, Parquet and logs go",
        param="live_dir",
        parse=as_path,
    )
    interval_s: float = opt(
        60.0,
        "live: seconds between polls",
        param="ingest.interval_s",
        parse=as_positive,
        flag="--interval",
    )
    source: str = opt(
        "gbfs", "live: the feed to poll", param="source", choices=("gbfs", "opendata")
    )
    local_feed: Path | None = opt(
        None,
        "live: serve this recording on 127.0.0.1 and poll it (a demo or soak without internet)",
        parse=as_path,
    )
    feed_speed: float = opt(
        60.0, "live, local feed: recorded seconds per real second", parse=as_non_negative
    )
    feed_faults: str = opt("none", "live, local feed: faults to inject (see velib feed serve)")
    status_every_s: float = opt(
        30.0,
        "live: seconds between status lines",
        param="status_every_s",
        parse=as_positive,
        flag="--status-every",
    )

    def check(self) -> None:
        """Recordings exist; stale_after covers two heartbeats."""
        missing = [str(p) for p in self.raw if not p.exists()] if not self.live else []
        if self.local_feed is not None and not self.local_feed.exists():
            missing.append(str(self.local_feed))
        if missing:
            raise SettingsError(f"raw data not found: {', '.join(missing)}")
        check_stale_after(self.heartbeat_s, StreamSettings.build().stale_after)

    def capture(self, bootstrap_servers: str) -> CaptureSettings:
        """The capture's settings for this run (group and file sizes from params.yaml)."""
        return CaptureSettings.build(
            {
                "out": self.csv_out,
                "bootstrap_servers": bootstrap_servers,
                "until_idle_s": self.idle_s,
            }
        )

    def ingest(self, bootstrap_servers: str) -> IngestSettings:
        """The ingest's topics and heartbeat for this run (it replays ``raw`` itself)."""
        return IngestSettings.build(
            {"bootstrap_servers": bootstrap_servers, "heartbeat_s": self.heartbeat_s}
        )

    def stream(self, bootstrap_servers: str, **changes: Any) -> StreamSettings:
        """The stream's settings for this run (its window and thresholds from params.yaml)."""
        return StreamSettings.build(
            {"out": self.out, "bootstrap_servers": bootstrap_servers, **changes}
        )
