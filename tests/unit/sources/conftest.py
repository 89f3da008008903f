"""Hand-made recordings of the 5-minute shape: real records, edited, in ``tmp_path``.

The rows are the first records of an answer of ``tests/fixtures/opendata-5min`` (the
trimmed real recording); each test copies and edits them (counts, ``duedate``,
missing fields) and writes them as answers named the way the collector named its
files, beside the recording's own manifest.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIVE_MIN = Path(__file__).resolve().parents[2] / "fixtures" / "opendata-5min"

Rows = list[dict[str, Any]]


@pytest.fixture
def real_rows() -> Rows:
    """Four real records of the answer saved at 2024-11-04 10:10:01 Paris time."""
    answer = FIVE_MIN / "velib_data_20241104_101001.json.gz"
    return json.loads(gzip.decompress(answer.read_bytes()))[:4]


@pytest.fixture
def recording(tmp_path: Path) -> Callable[..., Path]:
    """Write one answer: ``recording(name_time, rows)`` -> its path (the manifest beside it)."""
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(FIVE_MIN / "recording.yaml", folder / "recording.yaml")

    def write(when: str, rows: Rows) -> Path:
        path = folder / f"velib_data_{when}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(rows).encode(), mtime=0))
        return path

    return write
