"""A local Vélib' feed for tests and demos: a recording served over HTTP as if live.

:class:`FeedServer` listens on loopback (``127.0.0.1``, port 0 picks a free
one) and serves a recording (:mod:`pipeline.localfeed.shapes` says what is and is
not reconstructed) through the two live APIs the clients of
:mod:`pipeline.sources.feeds` poll:

- GBFS: ``/gbfs/gbfs.json`` (discovery, GBFS 1.0 shape) listing
  ``station_information`` and ``station_status`` (the base to set as
  ``VELIB_GBFS_BASE_URL`` is ``/gbfs``);
- the Paris open-data Explore API v2.1:
  ``/api/explore/v2.1/catalog/datasets/velib-disponibilite-en-temps-reel/records``
  with ``limit`` (1 to 100, default 10), ``offset`` and ``order_by=stationcode``
  (``VELIB_OPENDATA_URL`` is the dataset URL, without ``/records``).

A clock (:class:`FeedClock`) runs recorded time at ``speed`` recorded seconds
per real second from the first snapshot; each request gets the latest snapshot
at or before that time, and ``lastUpdatedOther`` is that snapshot's recorded
time. Pages of the records API are served from the snapshot current at each
request, as the real API does, so at high speed one poll can straddle two
snapshots (the ledger shows it). Faults (:data:`FAULT_KINDS`, chosen by a
:class:`FaultPlan`) are injected deterministically from a seed and the order of
requests. Every request is written to a ledger (:class:`Served`): when, which
snapshot, which fault, so a test can check afterwards what reached the topic.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from pipeline.localfeed.faults import FAULT_KINDS, FaultPlan, Faults, parse_faults
from pipeline.localfeed.recording import FeedClock, Recording, frame_index, load_recording
from pipeline.localfeed.shapes import (
    GBFS_FEEDS,
    GBFS_TTL_S,
    Reply,
    feed_of,
    html_page,
    json_reply,
    page_params,
    records_page,
    station_key,
    too_many_requests,
)

__all__ = [
    "FAULT_KINDS",
    "FaultPlan",
    "FeedClock",
    "FeedServer",
    "Served",
    "parse_faults",
]

log = logging.getLogger(__name__)

GBFS_BASE = "/gbfs"
OPENDATA_DATASET = "/api/explore/v2.1/catalog/datasets/velib-disponibilite-en-temps-reel"


@dataclass(frozen=True)
class Served:
    """One request answered: the ledger line a test checks the topic against.

    Attributes:
        request: 1-based request number (the fault schedule counts these).
        at: wall-clock time of the request, UTC.
        recorded_at: the clock's recorded time at the request, UTC.
        path: the URL path asked for.
        feed: discovery | station_information | station_status | records | unknown.
        status: HTTP status sent.
        snapshot: index of the recorded snapshot whose data was served, or None.
        snapshot_id: that snapshot's id (its path in the recording).
        feed_time: ``lastUpdatedOther`` (GBFS) of what was served, else None.
        faults: the faults that shaped this response (empty: served as recorded).
    """

    request: int
    at: datetime
    recorded_at: datetime
    path: str
    feed: str
    status: int
    snapshot: int | None = None
    snapshot_id: str | None = None
    feed_time: datetime | None = None
    faults: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """A 200 whose data reached the client as recorded (or as altered by info_change)."""
        return self.status == 200 and not {"truncated", "html", "slow"} & set(self.faults)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (ISO 8601 UTC times) for the ledger file."""
        out = asdict(self)
        for key in ("at", "recorded_at", "feed_time"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        out["faults"] = list(self.faults)
        return out


class FeedServer:
    """A recording served on loopback over the GBFS and open-data APIs, with faults.

    Args:
        recording: a :class:`Recording` or a path to load one from.
        speed: recorded seconds per real second; 0 holds the clock (move it with seek()).
        port: loopback port; 0 picks a free one.
        faults: which faults to inject (default none).
        ledger_path: also append every :class:`Served` line to this file (JSON lines).
        now: the real-time clock (monotonic seconds); tests may pass their own.
    """

    def __init__(
        self,
        recording: Recording | Path | str,
        *,
        speed: float = 60.0,
        port: int = 0,
        faults: FaultPlan | None = None,
        ledger_path: Path | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recording = (
            recording if isinstance(recording, Recording) else load_recording(recording)
        )
        self.clock = FeedClock(self.recording.times, speed, now=now)
        self.plan = faults or FaultPlan()
        first = [station_key(s) for s in self.recording.payloads(0).status]
        self.faults = Faults(self.plan, first)
        self._lock = threading.Lock()
        self._ledger: list[Served] = []
        self._ledger_file: TextIO | None = (
            ledger_path.open("a", encoding="utf-8") if ledger_path else None
        )
        self._newest: dict[str, int] = {}  # feed -> newest snapshot served cleanly
        self._records_stale: int | None = None
        self.stopping = threading.Event()
        self._http = _Http(("127.0.0.1", port), _Handler)
        self._http.daemon_threads = True
        self._http.feed = self
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._http.server_port}"

    @property
    def gbfs_base_url(self) -> str:
        """What to set as ``VELIB_GBFS_BASE_URL``."""
        return self.url + GBFS_BASE

    @property
    def opendata_url(self) -> str:
        """What to set as ``VELIB_OPENDATA_URL`` (the dataset, without /records)."""
        return self.url + OPENDATA_DATASET

    def start(self) -> FeedServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="velib-feed", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake slow responses, close the ledger file."""
        self.stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
        self._http.server_close()
        with self._lock:
            if self._ledger_file is not None:
                self._ledger_file.close()
                self._ledger_file = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests look at -------------------------------------------------

    def ledger(self) -> list[Served]:
        """Every request answered so far, in order."""
        with self._lock:
            return list(self._ledger)

    def seek(self, index: int) -> None:
        """Jump the clock to snapshot ``index`` (it runs on from there at ``speed``)."""
        self.clock.seek(index)

    # --- answering ------------------------------------------------------------

    def respond(self, path: str, query: Mapping[str, Sequence[str]]) -> Reply:
        """Answer one GET: pick the snapshot, apply the faults, write the ledger line."""
        with self._lock:
            arrived, recorded = datetime.now(UTC), self.clock.recorded_now()  # read together
            current = frame_index(self.recording.times, recorded)
            number, event = self.faults.next_request()
            if event is not None:
                self.faults.fire(event, number, self._codes(current))
            fault = self.faults.transient()
            if fault in ("5xx", "429"):  # refused before any data is chosen
                tags: list[str] = []
                feed, reply, served = feed_of(path), self._refusal(fault), None
            else:
                feed, reply, served, tags = self._route(path, query, current)
            if fault == "truncated":
                reply.body = reply.body[: len(reply.body) // 2]
            elif fault == "html":
                reply = Reply(200, html_page(503), "text/html")
            elif fault == "slow":
                reply.delay_s = self.plan.slow_s
            snapshot, snapshot_id, feed_time = served or (None, None, None)
            entry = Served(
                number,
                arrived,
                recorded,
                path,
                feed,
                reply.status,
                snapshot,
                snapshot_id,
                feed_time,
                faults=(*tags, fault) if fault else tuple(tags),
            )
            if entry.clean and entry.snapshot is not None and "backwards" not in tags:
                self._newest[feed] = max(entry.snapshot, self._newest.get(feed, 0))
            self._ledger.append(entry)
            if self._ledger_file is not None:
                self._ledger_file.write(json.dumps(entry.to_json()) + "\n")
                self._ledger_file.flush()
        if fault or event:
            log.info("feed: request %d %s -> %d %s", number, path, reply.status, entry.faults)
        return reply

    def _refusal(self, fault: str) -> Reply:
        if fault == "429":
            return too_many_requests(self.plan.retry_after_s)
        status = self.faults.status_code()
        return Reply(status, html_page(status), "text/html")

    def _codes(self, index: int) -> list[str]:
        return [station_key(s) for s in self.recording.payloads(index).status]

    def _route(
        self, path: str, query: Mapping[str, Sequence[str]], current: int
    ) -> tuple[str, Reply, tuple[int, str, datetime | None] | None, list[str]]:
        """(feed, reply, (snapshot, id, feed time) served, fault tags) for one path."""
        base = self.faults.base(GBFS_BASE)
        moved = ["moved"] if self.faults.generation else []
        if path == f"{GBFS_BASE}/gbfs.json":
            return "discovery", self._discovery(base, current), None, moved
        for name in GBFS_FEEDS:
            if path.endswith(f"/{name}.json"):
                if path != f"{base}/{name}.json":
                    return name, json_reply(404, {"error": "not found"}), None, moved
                return (name, *self._gbfs(name, current))
        if path == f"{OPENDATA_DATASET}/records":
            return ("records", *self._records(query, current))
        return "unknown", json_reply(404, {"error": "not found"}), None, []

    def _discovery(self, base: str, current: int) -> Reply:
        feeds = [{"name": n, "url": f"{self.url}{base}/{n}.json"} for n in GBFS_FEEDS]
        updated = int(self.recording.frames[current].at.timestamp())
        return json_reply(
            200, {"lastUpdatedOther": updated, "ttl": GBFS_TTL_S, "data": {"en": {"feeds": feeds}}}
        )

    def _gbfs(self, name: str, current: int) -> tuple[Reply, tuple[Any, ...], list[str]]:
        index, tags = current, self.faults.tags()
        if name == "station_status":
            index, tags = self._maybe_backwards("station_status", current, tags)
        payloads = self.recording.payloads(index)
        frame = self.recording.frames[index]
        if name == "station_status":
            stations, updated = payloads.status, int(frame.at.timestamp())
        else:
            stations, updated = payloads.information, payloads.info_updated
        body = {
            "lastUpdatedOther": updated,
            "ttl": GBFS_TTL_S,
            "data": {"stations": self.faults.alter(stations)},
        }
        served = (index, frame.id, datetime.fromtimestamp(updated, tz=UTC))
        return json_reply(200, body), served, tags

    def _maybe_backwards(self, feed: str, current: int, tags: list[str]) -> tuple[int, list[str]]:
        """An older snapshot than the newest one served cleanly, once, when one is due."""
        newest = self._newest.get(feed, 0)
        if self.faults.backwards_pending and newest > 0:
            self.faults.backwards_pending = False
            return newest - 1, [*tags, "backwards"]
        return current, tags

    def _records(
        self, query: Mapping[str, Sequence[str]], current: int
    ) -> tuple[Reply, tuple[Any, ...] | None, list[str]]:
        params = page_params(query)
        if isinstance(params, Reply):
            return params, None, []
        limit, offset, order = params
        tags = self.faults.tags()
        if offset == 0:  # a new poll: a stale replica answers it whole, or not at all
            self._records_stale = None
            index, tags = self._maybe_backwards("records", current, tags)
            if index != current:
                self._records_stale = index
        index = self._records_stale if self._records_stale is not None else current
        if index != current and "backwards" not in tags:
            tags = [*tags, "backwards"]
        records = self.faults.alter(self.recording.payloads(index).records)
        reply = records_page(records, limit, offset, order)
        return reply, (index, self.recording.frames[index].id, None), tags


class _Http(ThreadingHTTPServer):
    """The HTTP server, holding the feed its handlers answer for."""

    feed: FeedServer


class _Handler(BaseHTTPRequestHandler):
    """Writes what FeedServer.respond decided; waits first for a slow response."""

    server_version = "velib-feed/0.1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        assert isinstance(self.server, _Http)
        feed = self.server.feed
        url = urlsplit(self.path)
        reply = feed.respond(url.path, parse_qs(url.query))
        if reply.delay_s and feed.stopping.wait(reply.delay_s):
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            log.debug("feed: client left before %s was answered", url.path)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Requests go to the ledger; the access log only at debug level."""
        log.debug("feed: " + format, *args)
