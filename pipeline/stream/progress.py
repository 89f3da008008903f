"""How far a stream has come, read from its state table without Spark (a live status line).

The state table (:mod:`pipeline.stream.tables`) gets one commit per
micro-batch, after the batch's tables: its newest ``meta`` row is the newest
batch whose every table and state is written, with how far the output is
complete. Read with
``deltalake``, so the supervisor of a live run never starts a JVM for it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from pipeline.clock import from_us
from pipeline.delta.read import BATCH, is_delta
from pipeline.stream.state import META, STATE


def progress(checkpoints: Path) -> dict[str, Any]:
    """The newest committed batch of a local checkpoint root: number, age, completeness."""
    from deltalake import DeltaTable

    folder = Path(checkpoints) / STATE
    if not is_delta(folder):
        return {"spark_batch": None}
    table = DeltaTable(str(folder))
    marks = table.to_pyarrow_table(columns=[BATCH, META])
    rows = marks.filter(pc.is_valid(marks[META])).to_pylist()  # the state's frame rows: no meta
    if not rows:
        return {"spark_batch": None}
    newest = max(rows, key=lambda row: row[BATCH])
    committed_ms = table.history(1)[0]["timestamp"]
    us = json.loads(newest[META]).get("complete_until_us")
    until = from_us(us).strftime("%Y-%m-%dT%H:%MZ") if us else None
    return {
        "spark_batch": int(newest[BATCH]),
        "spark_batch_age_s": round(time.time() - committed_ms / 1000),
        "complete_until": until,
    }


def consumed(checkpoints: Path) -> dict[str, dict[int, int]]:
    """The offsets the stream has committed, by topic and partition (empty before any).

    From Spark's own checkpoint: the end offsets of the newest batch in its commit log
    (a batch is in the commit log once ``foreachBatch`` returned, tables and state written).
    """
    stream = Path(checkpoints) / "stream"
    done = [int(p.name) for p in (stream / "commits").glob("*") if p.name.isdigit()]
    if not done:
        return {}
    lines = (stream / "offsets" / str(max(done))).read_text(encoding="utf-8").splitlines()
    offsets = json.loads(lines[-1])  # v1, the batch's metadata, then one line per source
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in offsets.items()}
