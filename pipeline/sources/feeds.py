"""Live Vélib' feeds over HTTP: the GBFS feed and the Paris open-data records API.

Both turn one poll into one :class:`~pipeline.sources.parsers.Snapshot` through the same
parse functions that read the recorded files, so the recorded payloads test
them. Network trouble never raises out of ``poll()``: after the retries (429,
5xx and connection errors, exponential backoff) the poll becomes a failed
snapshot, i.e. one dead-letter entry, and ``follow()`` carries on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.sources.archive import RawPoll, error_details
from pipeline.sources.normalize import Reference, default_reference
from pipeline.sources.parsers import (
    Snapshot,
    SnapshotError,
    failed_snapshot,
    feed_time,
    parse_gbfs,
    parse_opendata_records,
)

log = logging.getLogger(__name__)

BODY_HEAD = 500  # characters of a failed answer kept in the archive
Recorder = Callable[[RawPoll], Any]
USER_AGENT = "velib-paris/0.1 (+https://github.com/; research pipeline)"


def http_session(retries: int = 4, backoff_s: float = 0.5) -> requests.Session:
    """A Session that retries 429/5xx and connection errors with exponential backoff."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_s,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def get_json(session: requests.Session, url: str, timeout_s: float, **params: Any) -> Any:
    """GET a JSON document.

    Raises:
        SnapshotError: HTTP error after retries, network failure, or not JSON.
    """
    try:
        response = session.get(url, params=params or None, timeout=timeout_s)
    except requests.RequestException as exc:
        raise SnapshotError(f"GET {url} failed: {exc.__class__.__name__}: {exc}") from None
    text = response.text
    if response.status_code != 200:
        raise _failed(f"GET {url} answered HTTP {response.status_code}", response)
    if text.lstrip()[:1] == "<":
        raise _failed(f"GET {url} answered an HTML page, not JSON", response)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _failed(f"GET {url}: truncated or invalid JSON: {exc}", response) from None


def _failed(reason: str, response: requests.Response) -> SnapshotError:
    """A SnapshotError that keeps what the server said (the archive records it)."""
    error = SnapshotError(reason)
    error.status = response.status_code
    error.body_head = response.text[:BODY_HEAD]
    return error


class Feed(Protocol):
    """Anything that yields one snapshot per poll."""

    def poll(self) -> Snapshot:
        """Take one snapshot now."""
        ...


class GbfsFeed:
    """The Vélib' GBFS feed; station_information is refreshed every ``info_refresh_s``.

    ``gbfs.json`` is used for discovery when it answers (feeds by name, any
    language); otherwise ``<base>/station_information.json`` and
    ``<base>/station_status.json`` are used. After a failed poll, discovery is
    done again, so feeds that moved under an unchanged ``gbfs.json`` URL cost
    one dead letter, not every poll from then on.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 10.0,
        info_refresh_s: float = 3600.0,
        ref: Reference | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.recorder = recorder
        self.base_url = base_url.rstrip("/")
        self.session = session or http_session()
        self.timeout_s = timeout_s
        self.info_refresh_s = info_refresh_s
        self.ref = ref or default_reference()
        self._urls: dict[str, str] | None = None
        self._info: Any = None
        self._info_at = 0.0

    def urls(self) -> dict[str, str]:
        """Feed name -> URL, from gbfs.json when present."""
        if self._urls is None:
            urls = {
                name: f"{self.base_url}/{name}.json"
                for name in ("station_information", "station_status")
            }
            try:
                discovery = get_json(self.session, f"{self.base_url}/gbfs.json", self.timeout_s)
                urls.update(_discovered(discovery))
            except SnapshotError as exc:
                log.info("no GBFS discovery (%s); using %s/<feed>.json", exc, self.base_url)
            self._urls = urls
        return self._urls

    def poll(self) -> Snapshot:
        """Fetch status (and information when due) and join them."""
        urls = self.urls()
        origin = urls["station_status"]
        now = datetime.now(UTC)
        payloads: dict[str, Any] = {}
        error: SnapshotError | None = None
        try:
            if self._info is None or time.monotonic() - self._info_at > self.info_refresh_s:
                self._info = get_json(self.session, urls["station_information"], self.timeout_s)
                self._info_at = time.monotonic()
                payloads["station_information"] = self._info
            status = get_json(self.session, origin, self.timeout_s)
            payloads["station_status"] = status
            snap = parse_gbfs(
                self._info,
                status,
                origin=origin,
                source="gbfs",
                observed_at=feed_time(status) or now,
                ref=self.ref,
            )
            snap = dataclasses.replace(snap, polled_at=now)
        except SnapshotError as exc:
            self._urls = None  # read gbfs.json again next time: the feeds may have moved
            error = exc
            snap = failed_snapshot(str(exc), "", origin, now, "gbfs", polled_at=now)
        _record(self.recorder, snap, now, payloads, error)
        return snap


def _record(
    recorder: Recorder | None,
    snap: Snapshot,
    polled_at: datetime,
    payloads: dict[str, Any],
    error: SnapshotError | None,
) -> None:
    """Hand the poll to the archive: what came, and what went wrong if anything did.

    A payload that arrived but did not parse is kept as it came (no error entry):
    replaying it meets the same parse error, so the same dead letter.
    """
    if recorder is None:
        return
    fetched = "station_status" in payloads or "records" in payloads
    failed = error is not None and not fetched
    if failed:  # keep information fetched before the failure: later polls join with it
        payloads = {k: v for k, v in payloads.items() if k == "station_information"}
    recorder(
        RawPoll(
            source=snap.source,
            origin=snap.origin,
            observed_at=snap.observed_at,
            polled_at=polled_at,
            payloads=payloads,
            error=error_details(error) if failed and error is not None else None,
        )
    )


def _discovered(discovery: Any) -> dict[str, str]:
    """Feed URLs of a gbfs.json (v1/v2 per-language lists or v3 flat list)."""
    data = discovery.get("data", {}) if isinstance(discovery, dict) else {}
    feeds = data.get("feeds")
    if feeds is None:
        for language in data.values():
            if isinstance(language, dict) and isinstance(language.get("feeds"), list):
                feeds = language["feeds"]
                break
    return {
        f["name"]: f["url"]
        for f in feeds or []
        if isinstance(f, dict) and f.get("name") in ("station_information", "station_status")
    }


class OpenDataFeed:
    """The Paris open-data records API v2.1, paginated (``limit`` 100 per page)."""

    def __init__(
        self,
        dataset_url: str,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 20.0,
        page_size: int = 100,
        ref: Reference | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.recorder = recorder
        self.records_url = dataset_url.rstrip("/") + "/records"
        self.session = session or http_session()
        self.timeout_s = timeout_s
        self.page_size = page_size
        self.ref = ref or default_reference()

    def poll(self) -> Snapshot:
        """Fetch every page (until ``total_count``) as one snapshot at poll time."""
        now = datetime.now(UTC)
        rows: list[Any] = []
        pages: list[Any] = []
        try:
            while True:
                page = get_json(
                    self.session,
                    self.records_url,
                    self.timeout_s,
                    limit=self.page_size,
                    offset=len(rows),
                    order_by="stationcode",
                )
                if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                    raise SnapshotError("open-data answer without a results list")
                pages.append(page)
                rows.extend(page["results"])
                total = int(page.get("total_count") or 0)
                if not page["results"] or len(rows) >= total:
                    break
        except SnapshotError as exc:
            snap = failed_snapshot(str(exc), "", self.records_url, now, "opendata", polled_at=now)
            _record(self.recorder, snap, now, {}, exc)
            return snap
        snap = parse_opendata_records(
            rows, origin=self.records_url, observed_at=now, ref=self.ref, source="opendata"
        )
        snap = dataclasses.replace(snap, polled_at=now)
        _record(self.recorder, snap, now, {"records": pages}, None)
        return snap


def follow(
    feed: Feed, interval_s: float, stop: threading.Event | None = None
) -> Iterator[Snapshot]:
    """Poll every ``interval_s`` seconds (start to start) until ``stop`` is set."""
    stop = stop or threading.Event()
    while not stop.is_set():
        started = time.monotonic()
        yield feed.poll()
        if stop.wait(max(0.0, interval_s - (time.monotonic() - started))):
            break
