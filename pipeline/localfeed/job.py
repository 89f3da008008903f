"""``velib feed serve`` and the local feed of a live run: a :class:`FeedServer` run to a stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline import lifecycle
from pipeline.localfeed.faults import parse_faults
from pipeline.localfeed.server import FeedServer
from pipeline.settings.declare import UserError
from pipeline.settings.local import FeedSettings
from pipeline.settings.run import RunSettings

log = logging.getLogger(__name__)


def run(settings: FeedSettings, ready: Callable[[FeedServer], None] | None = None) -> None:
    """``velib feed serve``: serve until SIGINT/SIGTERM, then stop cleanly and say what was served.

    Raises:
        UserError: a bad fault spec, nothing to serve in the recording, or a port
            that cannot be bound.
    """
    assert settings.recording is not None  # FeedSettings.check refuses a missing one
    faults = parse_faults(settings.faults, seed=settings.seed)
    try:
        server = FeedServer(
            settings.recording,
            speed=settings.speed,
            port=settings.port,
            faults=faults,
            ledger_path=settings.ledger,
        )
    except OSError as exc:  # a busy port; a ledger the user cannot write
        where = exc.filename or f"port {settings.port}"
        raise UserError(f"cannot serve the feed: {where}: {exc.strerror}") from exc
    with lifecycle.stop_on_signals() as stop:
        try:
            server.start()
            if ready is not None:
                ready(server)
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    ledger = server.ledger()
    reached = max((e.snapshot for e in ledger if e.snapshot is not None), default=-1) + 1
    fired = [e.kind for e in server.faults.events]
    log.info(
        "feed stopped: %d requests, %d fault events %s, snapshots reached %d of %d",
        len(ledger),
        len(fired),
        fired,
        reached,
        len(server.recording),
    )


@contextmanager
def serve_in_thread(settings: RunSettings) -> Iterator[FeedServer]:
    """The local feed of a live run (``velib run --live --local-feed REC``), in this process.

    Its ledger goes to ``LIVE_DIR/feed-ledger.jsonl``, so a soak can hold what was
    served against what reached the topic.
    """
    assert settings.local_feed is not None
    server = FeedServer(
        settings.local_feed,
        speed=settings.feed_speed,
        faults=parse_faults(settings.feed_faults),
        ledger_path=settings.live_dir / "feed-ledger.jsonl",
    )
    with server:
        yield server
