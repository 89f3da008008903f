"""The local stand-ins: ``velib broker`` (Kafka) and ``velib feed serve`` (the Vélib' feeds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import port as as_port


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
