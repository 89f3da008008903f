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
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SnapshotError(f"corrupt gzip: {exc}") from None
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
