"""``velib run``: the chain as one job (replay, or ``--live`` for weeks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Self

from pipeline.settings import project
from pipeline.settings.capture import CaptureSettings
from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import date_range as as_date_range
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import paths as as_paths
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.forecast import LiveForecastSettings
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.recordings import Recording, named
from pipeline.settings.shared import heartbeat_field
from pipeline.settings.stream import StreamSettings
from pipeline.settings.tables import CompactSettings

# No time cut of capture files in a replay (a week, never reached): see RunSettings.capture.
REPLAY_MAX_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class RunSettings(Settings):
    """``velib run``: broker, ingest, capture and stream as one job (what DVC runs).

    ``raw`` and the output folders left out (None) are filled by :meth:`build` from
    the named recording, so a built object always holds them.
    """

    SECTION = "run"
    recording: str = opt(
        "may2022-hourly",
        "the recording to replay, by its name in params.yaml recordings (its folder on its "
        "Paris dates); outputs go under that name",
        param="base.recording",
    )
    raw: tuple[Path, ...] = opt(
        None,
        "recorded files, folders or archives to replay instead of the named recording "
        "(outputs then go under the first one's name)",
        parse=as_paths,
    )
    dates: tuple[date, date] | None = opt(
        None,
        "replay only the snapshots observed on these Paris dates, FIRST..LAST or one date "
        "instead of the recording's",
        parse=as_date_range,
    )
    csv_out: Path = opt(
        None, "capture folder, rewritten (by default under the recording's name)", parse=as_path
    )
    out: Path = opt(
        None,
        "research export: the stream's tables as canonical Parquet, rewritten",
        parse=as_path,
    )
    work_dir: Path = opt(
        None,
        "working state, not a research output: the stream's own tables and checkpoints, "
        "capture's resume points, rewritten",
        parse=as_path,
    )
    metrics: Path = opt(None, "metrics JSON (stream_details.json beside it)", parse=as_path)
    heartbeat_s: float = heartbeat_field("ingest heartbeat (seconds)", "ingest.heartbeat_s")
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

    @classmethod
    def build(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """As every stage's settings, then the recording resolved (:meth:`resolved`)."""
        params = project.load_params() if params is None else params
        return super().build(overrides, params=params, environ=environ).resolved(params)

    def resolved(self, params: Mapping[str, Any]) -> Self:
        """The named recording's folder and dates, and every output under its name.

        What is given stays: ``--raw`` replaces the named recording (its outputs go
        under the first path's name), ``--dates`` its dates, ``--out`` and the other
        folders their default under the name (:mod:`pipeline.settings.recordings`).
        """
        if self.raw is None:
            recording = named(self.recording, params)
            raw: tuple[Path, ...] = (project.ROOT / recording.path,)
            dates = self.dates if self.dates is not None else recording.dates
        else:
            recording = Recording(self.raw[0].name, self.raw[0], None)
            raw, dates = self.raw, self.dates

        def under(given: Path | None, default: Path) -> Path:  # None: not given
            return given if given is not None else project.ROOT / default

        resolved = dataclasses.replace(
            self,
            raw=raw,
            dates=dates,
            csv_out=under(self.csv_out, recording.csv),
            out=under(self.out, recording.processed),
            work_dir=under(self.work_dir, recording.work),
            metrics=under(self.metrics, recording.metrics / "stream.json"),
        )
        resolved.check()
        return resolved

    def check(self) -> None:
        """Recordings exist (the stale rule is the stream's: :meth:`stages` checks it)."""
        raw = self.raw or ()
        missing = [str(p) for p in raw if not p.exists()] if not self.live else []
        if self.local_feed is not None and not self.local_feed.exists():
            missing.append(str(self.local_feed))
        if missing:
            raise SettingsError(f"raw data not found: {', '.join(missing)}")

    @property
    def stream_dir(self) -> Path:
        """The stream's own tables, with its checkpoints (``_checkpoints/``) inside."""
        return self.work_dir / "stream"

    @property
    def capture_offsets(self) -> Path:
        """Capture's resume points (one JSON file per partition)."""
        return self.work_dir / "capture_offsets"

    def stages(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Stages:
        """Every stage's settings for this run, built once, from one read of params.yaml.

        ``velib run`` and ``velib run --live`` call it first, before anything starts,
        so a bad combination (``stream.stale_after`` under twice this run's heartbeat)
        is one line, and each stage is then handed its object. A replay's capture
        cuts files by ``max_records`` only, never by the clock (the replayed topic is
        complete before capture starts: file names and bytes do not depend on how
        fast the machine is); its resume points and the stream's tables stay in
        ``work_dir``, the stream's export goes to ``out``.
        """
        params = project.load_params() if params is None else params

        def build(cls: type[Any], given: dict[str, Any]) -> Any:
            kafka = {"bootstrap_servers": self.bootstrap_servers} if self.bootstrap_servers else {}
            return cls.build({**kafka, **given}, params=params, environ=environ)

        if self.live:
            capture = build(CaptureSettings, {"out": self.live_dir / "csv", "follow": True})
            stream = {"out": self.live_dir / "processed", "live": True}
        else:
            capture = build(
                CaptureSettings,
                {
                    "out": self.csv_out,
                    "offsets": self.capture_offsets,
                    "until_idle_s": self.idle_s,
                    "max_seconds": REPLAY_MAX_SECONDS,
                },
            )
            stream = {"out": self.stream_dir}
        return Stages(
            ingest=build(IngestSettings, {"heartbeat_s": self.heartbeat_s}),
            capture=capture,
            stream=build(StreamSettings, {**stream, "heartbeat_s": self.heartbeat_s}),
            compact=build(CompactSettings, {"root": self.live_dir / "processed"}),
            forecast=build(
                LiveForecastSettings,
                {"processed": self.live_dir / "processed", "out": self.live_dir / "forecasts"},
            ),
        )


@dataclass(frozen=True)
class Stages:
    """The settings of every stage ``velib run`` drives, built together by ``RunSettings.stages``.

    Attributes:
        ingest: topics and heartbeat (the run replays, or polls, itself).
        capture: the capture folder, group and file limits.
        stream: the stream's tables, window and stale rule.
        compact: what ``velib run --live`` compacts and keeps, and how often.
        forecast: the live forecaster's model, tables and output.
    """

    ingest: IngestSettings
    capture: CaptureSettings
    stream: StreamSettings
    compact: CompactSettings
    forecast: LiveForecastSettings

    def on(self, bootstrap_servers: str) -> Stages:
        """The same stages on the Kafka cluster the run found or started."""
        return dataclasses.replace(
            self,
            ingest=self.ingest.replace(bootstrap_servers=bootstrap_servers),
            capture=self.capture.replace(bootstrap_servers=bootstrap_servers),
            stream=self.stream.replace(bootstrap_servers=bootstrap_servers),
        )
