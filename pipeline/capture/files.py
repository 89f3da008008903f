"""Capture files: CSV rendering, part names, the output folder and reading it back.

Pure helpers and file-system mechanics of :mod:`pipeline.capture.job`, kept apart
from the consumer loop so they can be tested without Kafka and reused by
readers (compare, notebooks). See :mod:`pipeline.capture.job` for the layout and
the exactly-once protocol.
"""

from __future__ import annotations

import base64
import csv
import functools
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from pipeline.durable import write_text
from pipeline.record import (
    CSV_HEADER,
    StationRecord,
    csv_row_from_json_dict,
    from_csv_row,
    from_json_dict,
    pandas_dtypes,
    to_csv_row,
)

KAFKA_COLUMNS: tuple[str, ...] = ("topic", "partition", "offset")
CAPTURE_HEADER: tuple[str, ...] = (*CSV_HEADER, *KAFKA_COLUMNS)
REJECT_HEADER: tuple[str, ...] = (*KAFKA_COLUMNS, "key", "reason", "encoding", "value")
REJECTED_DIR = "_rejected"
OFFSETS_DIR = "_offsets"
# RFC 4180 line ends: with "\n" alone, Python's csv writer would leave a name holding a
# bare "\r" unquoted, and every reader would split the row there (found by hypothesis).
LINE_END = "\r\n"

_PART_RE = re.compile(r"^part-(\d+)-(\d+)\.csv$")


# --- rendering (pure) -------------------------------------------------------


def render_row(record: StationRecord, topic: str, partition: int, offset: int) -> list[str]:
    """One CSV row of a captured record: the record's cells, then where it came from."""
    return [*to_csv_row(record), topic, str(partition), str(offset)]


class CapturedRecord(NamedTuple):
    """A record read back from a capture file, with its Kafka coordinates."""

    record: StationRecord
    topic: str
    partition: int
    offset: int


def parse_row(cells: list[str]) -> CapturedRecord:
    """Inverse of :func:`render_row`; raises ValueError on a malformed row."""
    if len(cells) != len(CAPTURE_HEADER):
        raise ValueError(f"expected {len(CAPTURE_HEADER)} cells, got {len(cells)}")
    n = len(CSV_HEADER)
    return CapturedRecord(from_csv_row(cells[:n]), cells[n], int(cells[n + 1]), int(cells[n + 2]))


def parse_message(value: bytes | None) -> StationRecord:
    """Decode one message value into a record; ValueError says why it is not one."""
    if value is None:
        raise ValueError("empty message (tombstone)")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"JSON {type(data).__name__}, not an object")
    try:
        return from_json_dict(data)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"bad field: {exc}") from None


def render_reject(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> list[str]:
    """Render a rejected message as a row; bytes that are not UTF-8 are kept as base64."""
    raw = value or b""
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    key_text = key.decode("utf-8", "backslashreplace") if key is not None else ""
    if value is None:
        encoding = "null"
    return [topic, str(partition), str(offset), key_text, reason, encoding, text]


_OBSERVED_AT = CSV_HEADER.index("observed_at")


def message_cells(value: bytes | None) -> tuple[list[str], str]:
    """The CSV cells of one message value and its date folder, in one pass.

    Equivalent to ``to_csv_row(parse_message(value))`` and ``date_folder``, but a
    well-typed value (what ingest writes) never becomes a StationRecord on the way.

    Raises:
        ValueError: not a station record; the message says why.
    """
    if value is not None:
        try:
            data = orjson.loads(value)  # ~4x faster than json.loads: capture's hottest call
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            cells = csv_row_from_json_dict(data)
            if cells is not None:
                return cells, "date=" + cells[_OBSERVED_AT][:10]
    record = parse_message(value)  # the full checks, and the reason it is rejected
    return to_csv_row(record), date_folder(record)


def date_folder(record: StationRecord) -> str:
    """Name the Hive-style folder of a record: the UTC date of its snapshot."""
    return _date_folder(record.observed_at)


@functools.lru_cache(maxsize=1024)
def _date_folder(observed_at: datetime) -> str:
    # one snapshot's records share observed_at: format it once
    return "date=" + observed_at.astimezone(UTC).strftime("%Y-%m-%d")


def part_name(partition: int, first_offset: int) -> str:
    """File name of a published part: sortable by partition, then first offset."""
    return f"part-{partition:05d}-{first_offset:012d}.csv"


def parse_part_name(name: str) -> tuple[int, int] | None:
    """(partition, first offset) of a part file name, None for any other name."""
    match = _PART_RE.match(name)
    return (int(match[1]), int(match[2])) if match else None


def pandas_read_options() -> dict[str, Any]:
    """``pandas.read_csv`` options that type a capture file's columns consistently."""
    dtypes = {**pandas_dtypes(), "topic": "string", "partition": "Int64", "offset": "Int64"}
    return {"dtype": dtypes, "keep_default_na": False, "na_values": [""], "encoding": "utf-8"}


# --- the output folder ---------------------------------------------------------


def _read_csv(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        yield from reader


class OutputFolder:
    """The capture folder: where parts go, what is already published, offsets files.

    The offsets files (resume points) live in ``root/_offsets`` unless
    ``offsets_dir`` puts them elsewhere: ``velib run`` keeps them out of its CSV
    folder, a research output that must hold nothing but the data.
    """

    def __init__(self, root: Path | str, topic: str, offsets_dir: Path | str | None = None) -> None:
        self.root = Path(root)
        self.topic = topic
        self.offsets_dir = Path(offsets_dir) if offsets_dir is not None else self.root / OFFSETS_DIR

    def prepare(self) -> None:
        """Create the folder; refuse one that holds another topic's capture."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.offsets_dir.mkdir(parents=True, exist_ok=True)
        for path in self.offsets_dir.glob("partition-*.json"):
            other = json.loads(path.read_text(encoding="utf-8")).get("topic")
            if other != self.topic:
                raise ValueError(
                    f"{self.root} holds a capture of topic {other!r}, not {self.topic!r}"
                )

    def _offsets_path(self, partition: int) -> Path:
        return self.offsets_dir / f"partition-{partition:05d}.json"

    def next_offset(self, partition: int) -> int | None:
        """Return the next offset to read for a partition, None when nothing was published."""
        path = self._offsets_path(partition)
        if not path.exists():
            return None
        return int(json.loads(path.read_text(encoding="utf-8"))["next_offset"])

    def write_next_offset(self, partition: int, next_offset: int) -> None:
        """Record durably that every offset below ``next_offset`` is in a published file."""
        data = {
            "topic": self.topic,
            "partition": partition,
            "next_offset": next_offset,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        write_text(self._offsets_path(partition), json.dumps(data) + "\n")

    def _folders(self) -> list[Path]:
        if not self.root.exists():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and p.name.startswith("date=")] + [
            self.root / REJECTED_DIR
        ]

    def parts(self, partition: int | None = None) -> list[tuple[Path, int, int]]:
        """List published part files (path, partition, first offset), rejects included."""
        found = []
        for folder in self._folders():
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                parsed = parse_part_name(entry.name)
                if parsed and (partition is None or parsed[0] == partition):
                    found.append((Path(entry.path), *parsed))
        return sorted(found, key=lambda item: (item[1], item[2]))

    def remove_stale_temps(self, partition: int) -> int:
        """Delete a partition's unfinished temp files (a crash left them behind)."""
        prefix, removed = f".part-{partition:05d}-", 0
        for folder in self._folders():
            if folder.is_dir():
                for entry in os.scandir(folder):
                    if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def published_offsets(self, partition: int, since: int | None) -> set[int]:
        """Offsets held by files whose first offset is >= since (all files when None)."""
        offsets: set[int] = set()
        for path, _, first in self.parts(partition):
            if since is None or first >= since:
                is_reject = path.parent.name == REJECTED_DIR
                column = 2 if is_reject else len(CAPTURE_HEADER) - 1
                offsets.update(int(row[column]) for row in _read_csv(path) if row)
        return offsets


def read_captured(out_dir: Path | str) -> Iterator[CapturedRecord]:
    """Every record of the published files of a capture folder, file by file."""
    for path in sorted(Path(out_dir).glob("date=*/part-*.csv")):
        for cells in _read_csv(path):
            yield parse_row(cells)


def read_rejected(out_dir: Path | str) -> Iterator[dict[str, str]]:
    """Every rejected message of a capture folder, as a dict of REJECT_HEADER."""
    for path in sorted(Path(out_dir).glob(f"{REJECTED_DIR}/part-*.csv")):
        for cells in _read_csv(path):
            yield dict(zip(REJECT_HEADER, cells, strict=True))


# --- one part being written ---------------------------------------------------


class PartWriter:
    """A part being written: a hidden temp file in its final folder."""

    def __init__(self, folder: Path, partition: int, first_offset: int, header: tuple[str, ...]):
        self.final = folder / self.name_for(partition, first_offset)
        self.temp = folder / f".{self.final.name}.tmp"
        folder.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.temp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.writer = csv.writer(self.fh, lineterminator=LINE_END)
        self.writer.writerow(header)

    @staticmethod
    def name_for(partition: int, first_offset: int) -> str:
        """File name of a published part: sortable by partition, then first offset."""
        return part_name(partition, first_offset)

    def publish(self) -> None:
        """Make the file durable, then visible under its final name."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        if self.final.exists():
            raise RuntimeError(f"{self.final} already exists: refusing to overwrite")
        os.rename(self.temp, self.final)

    def discard(self) -> None:
        """Drop an unpublished file (the partition now belongs to someone else)."""
        self.fh.close()
        self.temp.unlink(missing_ok=True)
