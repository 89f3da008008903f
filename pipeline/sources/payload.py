"""One recorded file's content: gzip undone, sniffed as JSON or CSV, the kind of JSON.

Recorded files are recognised by their content, never by their name: this is
where that is done, for replay (:mod:`pipeline.sources.recorded`), the reference
tables and the local feed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.sources.parsers import SnapshotError


def read_payload(path: Path) -> tuple[str, Any]:
    """Sniff a recorded file: ('json', obj) or ('csv', text); gzip is undone.

    Raises:
        SnapshotError: zip, HTML, truncated JSON, binary or empty content.

    """
    return payload_of(content(path))


def content(path: Path) -> bytes:
    """A recorded file's bytes, gzip undone (what a re-read is compared on).

    Raises:
        SnapshotError: corrupt gzip.
    """
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SnapshotError(f"corrupt gzip: {exc}") from None
    return data


def payload_of(data: bytes) -> tuple[str, Any]:
    """Sniff a file's content (see :func:`read_payload`)."""
    if data[:4] == b"PK\x03\x04":
        raise SnapshotError("zip archive where a CSV or JSON file was expected")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotError("binary content, not UTF-8 text") from None
    head = text.lstrip()[:1]
    if not head:
        raise SnapshotError("empty file")
    if head == "<":
        raise SnapshotError(f"HTML/XML page, not data: {text.lstrip()[:80]!r}")
    if head in "{[":
        try:
            return "json", json.loads(text)
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"truncated or invalid JSON: {exc}") from None
    return "csv", text


def gbfs_kind(payload: Any) -> str | None:
    """``"status"`` or ``"information"`` for a GBFS station list, else None."""
    try:
        first = payload["data"]["stations"][0]
    except (TypeError, KeyError, IndexError):
        return None
    if not isinstance(first, Mapping):
        return None
    if "num_bikes_available" in first or "numBikesAvailable" in first:
        return "status"
    if "lat" in first or "capacity" in first:
        return "information"
    return None


def api_rows(payload: Any) -> list[Any] | None:
    """The records of an open-data API answer, else None.

    The API's ``{"results": [...]}`` (v2.1 records) or the export's bare list of
    records (``.../exports/json``, the 5-minute recording of November 2024).
    """
    if isinstance(payload, Mapping) and isinstance(payload.get("results"), list):
        return payload["results"]
    if isinstance(payload, list) and payload and isinstance(payload[0], Mapping):
        if "numbikesavailable" in payload[0] or "stationcode" in payload[0]:
            return payload
    return None
