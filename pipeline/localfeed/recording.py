"""Recordings as a live feed would serve them: snapshots in time order, and a clock.

:mod:`pipeline.localfeed.server` serves these frames over HTTP. This module finds
the recorded snapshots under a path (GBFS day folders and open-data history
files, recognised by content), orders them by recorded time, builds each
one's wire shapes on demand (:mod:`pipeline.localfeed.shapes`, which also says what
cannot be reconstructed), and runs the clock that says which one is current.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from pipeline.localfeed.shapes import REPORT_COLUMN, Payloads, gbfs_payloads, history_payloads
from pipeline.settings.declare import BadInput, MissingInput
from pipeline.sources.normalize import Reference, RowError, default_reference, paris_local_to_utc
from pipeline.sources.parsers import ID_COLUMN, SnapshotError, feed_time
from pipeline.sources.recorded import name_time, read_payload

log = logging.getLogger(__name__)

_MAX_AHEAD_S = 3.0e9  # ~95 recorded years: beyond it the clock stops (datetime range)


@dataclass(frozen=True)
class Frame:
    """One recorded snapshot: where it is and its recorded (feed) time, UTC."""

    index: int
    id: str
    at: datetime
    kind: str  # "gbfs" | "history"
    path: Path
    info_path: Path | None = None


class Recording:
    """Frames of a recording in time order; payloads built on demand and cached.

    Two weeks of history is 314 files of ~1,400 stations, so frames are read
    when first served (a few milliseconds each) rather than all at start-up.
    """

    def __init__(self, frames: Iterable[Frame], ref: Reference | None = None) -> None:
        self.frames = tuple(frames)
        if not self.frames:
            raise ValueError("a recording needs at least one snapshot")
        self.times: tuple[datetime, ...] = tuple(f.at for f in self.frames)
        self.ref = ref or default_reference()
        self._payloads: Callable[[int], Payloads] = lru_cache(maxsize=4)(self._build)

    def __len__(self) -> int:
        return len(self.frames)

    def payloads(self, index: int) -> Payloads:
        """The wire shapes of frame ``index``."""
        return self._payloads(index)

    def _build(self, index: int) -> Payloads:
        frame = self.frames[index]
        if frame.kind == "gbfs":
            return gbfs_payloads(frame.path, frame.info_path, frame.at, self.ref)
        rows = list(csv.DictReader(io.StringIO(_text(frame.path))))
        return history_payloads(rows, frame.at, self.ref)


def frame_index(times: Sequence[datetime], at: datetime) -> int:
    """The snapshot a feed shows at recorded time ``at``: the latest at or before it.

    Before the first snapshot it is the first one; after the last, the last one
    (a feed that stopped updating keeps answering its last state).
    """
    return max(0, bisect_right(times, at) - 1)


class FeedClock:
    """Recorded time that runs at ``speed`` recorded seconds per real second.

    It starts at the first snapshot when created; a 30-minute recorded gap then
    passes in 1.8 real seconds at speed 1000. Speed 0 holds it where
    :meth:`seek` puts it, which is how tests step through a recording.
    """

    def __init__(
        self, times: Sequence[datetime], speed: float, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        if not times:
            raise ValueError("a clock needs at least one snapshot time")
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a finite number >= 0, got {speed}")
        self.times = list(times)
        self.speed = float(speed)
        self._now = now
        self._lock = threading.Lock()
        self._anchor = (self.times[0], now())

    def recorded_now(self) -> datetime:
        """The recorded time now, UTC."""
        with self._lock:
            at, real = self._anchor
        ahead = min((self._now() - real) * self.speed, _MAX_AHEAD_S)
        return at + timedelta(seconds=ahead)

    def index(self) -> int:
        """The snapshot served now."""
        return frame_index(self.times, self.recorded_now())

    def seek(self, index: int) -> None:
        """Put recorded time at snapshot ``index``; it runs on from there at ``speed``."""
        with self._lock:
            self._anchor = (self.times[index], self._now())


# A snapshot found: its time, frame id, kind, file (status or history) and information file.
_Found = tuple[datetime, str, str, Path, Path | None]


def load_recording(path: Path | str, ref: Reference | None = None) -> Recording:
    """Find the GBFS snapshots and open-data history files under ``path``.

    Other files (documentation, checksums, the v1 seed table) are skipped with
    a log line, so a whole ``data/raw`` can be served.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no GBFS snapshot and no history file under ``path``.
    """
    root = Path(path)
    if not root.exists():
        raise MissingInput(f"no such file or folder: {root}")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found: list[_Found] = []
    gbfs: dict[Path, dict[str, Path]] = {}
    for file in files:
        if file.name.startswith(".") or file.suffix.lower() == ".md":
            continue
        kind = _sniff(file)
        if kind == "history":
            at = name_time(file) or _latest_report(file)
            if at is None:
                log.info("feed: %s has no time in its name and no report time; skipped", file)
                continue
            found.append((at, _rel(file, root), "history", file, None))
        elif kind in ("information", "status"):
            gbfs.setdefault(file.parent, {})[kind] = file
        else:
            log.info("feed: %s is neither GBFS stations nor open-data history; skipped", file)
    found += _gbfs_snapshots(gbfs, root)
    if not found:
        raise BadInput(f"no GBFS snapshot or open-data history file under {root}")
    found.sort(key=lambda f: (f[0], f[1]))
    frames = [Frame(i, fid, at, kind, p, info) for i, (at, fid, kind, p, info) in enumerate(found)]
    return Recording(frames, ref)


def _gbfs_snapshots(gbfs: dict[Path, dict[str, Path]], root: Path) -> list[_Found]:
    """Each folder's GBFS snapshot (a status file, information beside it), at its feed time."""
    found: list[_Found] = []
    for folder, kinds in gbfs.items():
        status = kinds.get("status")
        if status is None:
            log.info("feed: %s has station_information only; skipped", folder)
            continue
        if "information" not in kinds:
            log.warning("feed: %s: no station_information beside it; served empty", folder)
        at = feed_time(read_payload(status)[1])
        if at is None:
            log.info("feed: %s has no feed time; skipped", status)
            continue
        found.append((at, _rel(folder, root), "gbfs", status, kinds.get("information")))
    return found


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else path.name


def _open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else path.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")


def _text(path: Path) -> str:
    with _open_text(path) as fh:
        return fh.read()


def _sniff(path: Path) -> str | None:
    """'history', 'information', 'status' or None, from the content (not the name)."""
    try:
        with path.open("rb") as raw:
            if raw.read(4) == b"PK\x03\x04":  # a zip, whatever its name: replay refuses it too
                return None
        with _open_text(path) as fh:
            head = fh.readline(4096)
    except (OSError, EOFError):
        return None
    if ID_COLUMN in head and REPORT_COLUMN in head:
        return "history"
    if not head.lstrip().startswith("{"):
        return None
    try:
        payload = read_payload(path)[1]
        first = payload["data"]["stations"][0]
    except (SnapshotError, TypeError, KeyError, IndexError):
        return None
    if not isinstance(first, Mapping):
        return None
    if "num_bikes_available" in first or "numBikesAvailable" in first:
        return "status"
    return "information" if "lat" in first or "capacity" in first else None


def _latest_report(path: Path) -> datetime | None:
    """A history file without a time in its name: its latest report (as the parser does)."""
    rows = csv.DictReader(io.StringIO(_text(path)))
    stamps = [r[REPORT_COLUMN] for r in rows if r.get(REPORT_COLUMN)]
    try:
        return paris_local_to_utc(max(stamps), "file time") if stamps else None
    except RowError:
        return None
