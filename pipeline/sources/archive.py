"""The raw archive of live polls: every payload as it came, replayable bit for bit.

GBFS publishers keep no history and the topic expires, so a live collection is
only research material if what was polled is kept. ``velib ingest --follow
--archive DIR`` writes each poll, atomically and gzip-compressed, as

    DIR/<source>/<YYYY-MM-DD>/T<HHMMSS>Z/
        poll.json                      what was polled, when, and which files (written last)
        station_status.json.gz         GBFS: the status payload of this poll
        station_information.json.gz    GBFS: only when information was fetched (hourly)
        records.json.gz                open data: the API pages of this poll
        error.json.gz                  a failed poll: reason, HTTP status, body head

and :func:`read_archive` turns the folder back into the very snapshots the live
run parsed (same parse functions, same poll times, same ``source``), so
replaying an archive produces exactly the messages and dead letters the live
run produced, and a parser fix can be re-applied to a whole collection.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.durable import fsync_dir
from pipeline.record import format_timestamp, parse_timestamp
from pipeline.settings.declare import BadInput
from pipeline.sources.normalize import Reference, default_reference
from pipeline.sources.parsers import Snapshot, SnapshotError, failed_snapshot, parse_gbfs
from pipeline.sources.parsers import parse_opendata_records as parse_records

log = logging.getLogger(__name__)

POLL = "poll.json"
LAYOUT = 1


@dataclass
class RawPoll:
    """One poll as it came: payloads by name (parsed JSON), or the error it met."""

    source: str  # "gbfs" | "opendata"
    origin: str  # the URL the snapshot is attributed to
    observed_at: datetime
    polled_at: datetime
    payloads: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


def error_details(exc: SnapshotError) -> dict[str, Any]:
    """What a failed poll was: the reason, and the HTTP status and body head when known."""
    return {
        "reason": str(exc),
        "status": getattr(exc, "status", None),
        "body_head": getattr(exc, "body_head", None),
    }


class Archive:
    """Writes polls under ``root``; logs the disk used per day as days go by.

    Args:
        root: the archive folder (created).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._day: tuple[str, str] | None = None
        self._day_bytes = 0
        self._day_polls = 0

    def write(self, poll: RawPoll) -> Path:
        """Write one poll atomically (a temporary folder renamed into place); return it."""
        day = poll.polled_at.strftime("%Y-%m-%d")
        parent = self.root / poll.source / day
        parent.mkdir(parents=True, exist_ok=True)
        name = poll.polled_at.strftime("T%H%M%SZ")
        final, n = parent / name, 1
        while final.exists():  # two polls in one second: keep both, in order
            final, n = parent / f"{name}-{n}", n + 1
        tmp = parent / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        files = {}
        for payload_name, payload in poll.payloads.items():
            files[payload_name] = _write_gz(tmp / f"{payload_name}.json.gz", payload)
        if poll.error is not None:
            files["error"] = _write_gz(tmp / "error.json.gz", poll.error)
        meta = {
            "layout": LAYOUT,
            "source": poll.source,
            "origin": poll.origin,
            "observed_at": format_timestamp(poll.observed_at),
            "polled_at": format_timestamp(poll.polled_at),
            "files": sorted(files),
        }
        (tmp / POLL).write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(parent)
        self._count((poll.source, day), sum(files.values()))
        return final

    def _count(self, day: tuple[str, str], size: int) -> None:
        if self._day != day:
            self.close()
            self._day, self._day_bytes, self._day_polls = day, 0, 0
        self._day_bytes += size
        self._day_polls += 1
        if self._day_polls % 60 == 1:  # the first poll of a day, then about hourly
            self._log()

    def _log(self) -> None:
        if self._day is not None and self._day_polls:
            source, day = self._day
            log.info(
                "archive %s/%s: %d polls, %.1f MB so far today",
                source,
                day,
                self._day_polls,
                self._day_bytes / 1e6,
            )

    def close(self) -> None:
        """Log the day's disk use one last time."""
        self._log()


def _write_gz(path: Path, payload: Any) -> int:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(path, "wb") as raw:
        # no name, no mtime in the header: the same payload gives the same bytes
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(data)
        raw.flush()
        os.fsync(raw.fileno())
    return path.stat().st_size


def _read_gz(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


# --- reading ----------------------------------------------------------------------


def is_archive(path: Path) -> bool:
    """True when ``path`` holds archived polls (a ``poll.json`` two or three levels down)."""
    path = Path(path)
    return path.is_dir() and (any(path.glob(f"*/*/*/{POLL}")) or any(path.glob(f"*/*/{POLL}")))


def _information_before(root: Path, first: Path) -> dict[str, Any]:
    """The GBFS information in force at ``first``: the newest archived at or before it."""
    meta = json.loads((first / POLL).read_text(encoding="utf-8"))
    source = meta["source"]
    for folder in reversed(polls(root)):  # a restart reads every poll's meta once: fine
        other = json.loads((folder / POLL).read_text(encoding="utf-8"))
        if other["source"] != source or other["polled_at"] > meta["polled_at"]:
            continue
        if "station_information" in other["files"]:
            return {source: _read_gz(folder / "station_information.json.gz")}
    return {}


def polls(root: Path) -> list[Path]:
    """The committed poll folders under ``root``, oldest first (a half-written one is skipped)."""
    found = list(Path(root).glob(f"*/*/*/{POLL}")) or list(Path(root).glob(f"*/*/{POLL}"))
    metas = [(json.loads(p.read_text(encoding="utf-8")), p.parent) for p in found]
    return [folder for _, folder in sorted(metas, key=lambda m: (m[0]["polled_at"], str(m[1])))]


def latest(root: Path, source: str, n: int = 3) -> list[Path]:
    """The newest ``n`` polls of one source (today's and yesterday's folders only: cheap)."""
    days = sorted((Path(root) / source).glob("????-??-??"))[-2:]
    folders = [p.parent for day in days for p in day.glob(f"*/{POLL}")]
    return sorted(folders, key=lambda f: json.loads((f / POLL).read_text())["polled_at"])[-n:]


def read_archive(
    root: Path, ref: Reference | None = None, folders: list[Path] | None = None
) -> Iterator[Snapshot]:
    """The snapshots the live run parsed, poll by poll, in poll order.

    ``folders`` limits the reading to those polls (in that order); the GBFS
    information they join with is then the newest one archived before them.
    """
    ref = ref or default_reference()
    information: dict[str, Any] = {}  # per source: the last information fetched
    if folders is not None and folders:
        information = _information_before(root, folders[0])
    for folder in polls(root) if folders is None else folders:
        meta = json.loads((folder / POLL).read_text(encoding="utf-8"))
        if meta.get("layout") != LAYOUT:
            raise BadInput(f"{folder}: archive layout {meta.get('layout')} is not {LAYOUT}")
        source, origin = meta["source"], meta["origin"]
        observed_at = parse_timestamp(meta["observed_at"])
        polled_at = parse_timestamp(meta["polled_at"])
        files = set(meta["files"])
        if "station_information" in files:
            information[source] = _read_gz(folder / "station_information.json.gz")
        if "error" in files:
            error = _read_gz(folder / "error.json.gz")
            yield failed_snapshot(error["reason"], "", origin, observed_at, source, polled_at)
        elif "station_status" in files:
            status = _read_gz(folder / "station_status.json.gz")
            try:
                snap = parse_gbfs(
                    information.get(source),
                    status,
                    origin=origin,
                    source=source,
                    observed_at=observed_at,
                    ref=ref,
                )
            except SnapshotError as exc:
                yield failed_snapshot(str(exc), "", origin, observed_at, source, polled_at)
            else:
                yield dataclasses.replace(snap, polled_at=polled_at)
        elif "records" in files:
            rows = [row for page in _read_gz(folder / "records.json.gz") for row in page["results"]]
            snap = parse_records(
                rows, origin=origin, observed_at=observed_at, ref=ref, source=source
            )
            yield dataclasses.replace(snap, polled_at=polled_at)
        else:
            log.warning("%s: a poll with no payload; skipped", folder)
