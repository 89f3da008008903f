"""Durable files: what a crash or a power cut can leave is the old content or the new, never half.

One copy of the two moves every writer of the chain needs (the raw archive,
capture's CSV parts and offsets, the research exports): write a temporary
file, fsync it, rename it into place, fsync the folder so the rename itself
survives. Imports nothing of ours.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in the folder ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: readers see the old or the new bytes."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    """:func:`write_bytes` of a UTF-8 text."""
    write_bytes(path, text.encode("utf-8"))
