"""The local stand-ins: ``velib broker`` (Kafka) and ``velib feed serve`` (the Vélib' feeds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import non_negative as as_non_negative
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import port as as_port
from pipeline.settings.declare import positive_int as as_positive_int


@dataclass(frozen=True)
class BrokerSettings(Settings):
    """``velib broker``: a local Apache Kafka (KRaft), one node or a cluster."""

    SECTION = "broker"
    host: str = opt("127.0.0.1", "listen address")
    port: int = opt(
        9092,
        "client port (with --brokers N: the first of N consecutive ones); 0 picks free ones",
        parse=as_port,
    )
    brokers: int = opt(
        1,
        "1: one combined broker+controller; N > 1: a cluster of one KRaft controller "
        "and N brokers (topics then get replication 3, min.insync.replicas 2)",
        parse=as_positive_int,
    )
    data_dir: Path | None = opt(
        None,
        "keep the log segments here (a cluster: one folder per node); default: a temporary folder",
        parse=as_path,
    )
    heap: str = opt("512m", "JVM max heap (a cluster: each broker's, 320m when left at 512m)")
    sasl: bool = opt(
        False,
        "clients log in with SCRAM-SHA-512 over SASL_PLAINTEXT; the "
        "credentials go to DATA_DIR/client.env (0600)",
        boolean=True,
    )

    def check(self) -> None:
        """SASL is a single-node feature for now."""
        if self.sasl and self.brokers > 1:
            raise SettingsError("--sasl works with one broker only (drop --brokers)")


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
