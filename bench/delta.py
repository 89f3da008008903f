"""`python -m bench.delta`: what an exactly-once commit costs per micro-batch, and compaction.

Two measurements (issues 19 and 32), written to ``reports/bench/delta.json``:

* ``commits``: one micro-batch's seven idempotent commits (the stream's six
  tables, one of 1,500 rows and five of 50, and its state of 1,500 rows), each
  carrying the batch's app transaction, the two ways measured for the choice of
  docs/architecture.md: **delta-spark** (a DataFrame append with the writer
  options ``txnAppId``/``txnVersion``, the design before issue 32) and
  **delta-rs** (the same rows as Arrow through
  :class:`pipeline.stream.tables.DeltaTables` and
  :class:`pipeline.stream.state.StateStore`, the stream's own classes); then each
  batch replayed (every commit skipped by its transaction version). The first
  batches are left out (JVM and Delta warm-up); medians per batch. The rows are
  built beforehand: only the commits are timed;
* ``compaction`` (no JVM): one table of one day of ``--commits`` small appends
  (2,880 = one every 30 s) built with deltalake, read before and after
  :func:`pipeline.delta.maintain.tidy` (the ``velib compact`` of one table,
  with no retention, so the vacuum removes every replaced file at once).

Ratios, not absolutes: the machine is shared (load average in the report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parent.parent
ROWS = {
    "status": 1500,
    "polls": 50,
    "indicators_station": 50,
    "indicators_area": 50,
    "alerts": 50,
    "_rejected": 50,
}
STATE_ROWS = 1500


def _arrow(rows: int, batch: int, day: date) -> Any:
    import pyarrow as pa

    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pa.table(
        {
            "station_code": pa.array([f"{i:05d}" for i in range(rows)]),
            "bikes_available": pa.array([i + batch for i in range(rows)], pa.int32()),
            "observed_at": pa.array([at] * rows, pa.timestamp("us", tz="UTC")),
            "date": pa.array([day] * rows, pa.date32()),
        }
    )


def _delta_spark(spark: Any, root: Path) -> Any:
    """One batch's commits through delta-spark: an idempotent append per table."""

    def commit(frames: dict[str, Any], state: Any, batch: int) -> None:
        for name, frame in {**frames, "state": state}.items():
            (
                frame.write.format("delta")
                .mode("append")
                .option("txnAppId", "bench")
                .option("txnVersion", batch)
                .save(str(root / name))
            )

    return commit


def _delta_rs(root: Path) -> Any:
    """One batch's commits through delta-rs: the stream's own table and state classes."""
    from pyspark.sql import types as T

    from pipeline.stream.frontier import Frontier
    from pipeline.stream.state import State, StateStore
    from pipeline.stream.tables import DeltaTables

    schema = _arrow(1, 0, date(2026, 1, 1)).schema
    tables = DeltaTables(str(root), dict.fromkeys(ROWS, schema), retain_hours=168)
    tables.ensure()
    records = T.StructType(
        [
            T.StructField("station_code", T.StringType()),
            T.StructField("bikes_available", T.IntegerType()),
            T.StructField("observed_at", T.TimestampType()),
            T.StructField("date", T.DateType()),
        ]
    )
    store = StateStore(str(root / "_checkpoints" / "state"), {"records": records}, 1)
    store.ensure()

    def commit(frames: dict[str, Any], state: Any, batch: int) -> None:
        store.load(batch)
        tables.commit_all(frames, "bench", batch)
        store.save(batch, State({"records": state}, Frontier(batch)), "bench")

    return commit


def commits(batches: int, warmup: int, work: Path) -> dict[str, Any]:
    """Median seconds per micro-batch of each commit design, and of its replay."""
    from pipeline.stream.session import get_spark

    spark = get_spark("velib-bench-delta")
    day = date(2026, 1, 1)
    designs = {
        "delta_spark": _delta_spark(spark, work / "spark"),
        "delta_rs": _delta_rs(work / "rs"),
    }
    timings: dict[str, list[float]] = {f"{d}{r}": [] for d in designs for r in ("", "_replay")}
    for batch in range(batches):
        arrow = {name: _arrow(rows, batch, day) for name, rows in ROWS.items()}
        state = _arrow(STATE_ROWS, batch, day)
        frames = {name: spark.createDataFrame(t.to_pandas()).cache() for name, t in arrow.items()}
        state_frame = spark.createDataFrame(state.to_pandas()).cache()
        for frame in [*frames.values(), state_frame]:
            frame.count()
        inputs = {"delta_spark": (frames, state_frame), "delta_rs": (arrow, state)}
        for design, commit in designs.items():
            for kind in (design, f"{design}_replay"):
                started = time.perf_counter()
                commit(*inputs[design], batch)
                if batch >= warmup:
                    timings[kind].append(time.perf_counter() - started)
        for frame in [*frames.values(), state_frame]:
            frame.unpersist()
    spark.stop()
    medians = {kind: round(statistics.median(values), 3) for kind, values in timings.items()}
    return {
        "batches_measured": batches - warmup,
        "commits_per_batch": len(ROWS) + 1,
        "rows": {**ROWS, "state": STATE_ROWS},
        "median_s_per_batch": medians,
        "p90_s_per_batch": {
            k: round(sorted(v)[int(0.9 * (len(v) - 1))], 3) for k, v in timings.items()
        },
        "max_s_per_batch": {k: round(max(v), 3) for k, v in timings.items()},
    }


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts)


def _read_s(folder: Path) -> tuple[float, int]:
    from pipeline.delta.read import read_arrow

    started = time.perf_counter()
    rows = read_arrow(folder).num_rows
    return round(time.perf_counter() - started, 2), rows


def compaction(n_commits: int, rows: int, work: Path) -> dict[str, Any]:
    """One day of small commits (and one of the next day), read before and after tidying."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from pipeline.delta.maintain import tidy

    folder = work / "day"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    codes = pa.array([f"{i:05d}" for i in range(rows)])
    built = time.perf_counter()
    for n in range(n_commits + 1):  # the last commit opens the next day (never compacted)
        at = start + timedelta(seconds=30 * n) if n < n_commits else start + timedelta(days=1)
        batch = pa.table(
            {
                "station_code": codes,
                "bikes_available": pa.array([n % 60] * rows, pa.int32()),
                "observed_at": pa.array([at] * rows, pa.timestamp("us", tz="UTC")),
                "date": pa.array([at.date()] * rows, pa.date32()),
            }
        )
        write_deltalake(str(folder), batch, mode="append", partition_by=["date"])
    build_s = time.perf_counter() - built
    before_files = len(DeltaTable(str(folder)).file_uris())
    before_read, total = _read_s(folder)
    started = time.perf_counter()
    done = tidy(folder, retain_hours=0)
    tidy_s = time.perf_counter() - started
    after_read, after_rows = _read_s(folder)
    assert after_rows == total, "compaction changed the rows"
    return {
        "commits": n_commits + 1,
        "rows": total,
        "build_s": round(build_s, 1),
        "files_in_table_before": before_files,
        "files_in_table_after": len(DeltaTable(str(folder)).file_uris()),
        "files_on_disk_after": _files(folder),
        "partitions_compacted": list(done.compacted),
        "files_vacuumed": done.removed,
        "compact_and_vacuum_s": round(tidy_s, 2),
        "deltalake_read_s_before": before_read,
        "deltalake_read_s_after": after_read,
    }


def main(argv: list[str] | None = None) -> int:
    """Run both measurements (or one) and write the JSON report."""
    parser = argparse.ArgumentParser(prog="python -m bench.delta", description=__doc__)
    parser.add_argument("--batches", type=int, default=23, help="micro-batches (3 are warm-up)")
    parser.add_argument("--commits", type=int, default=2880, help="small commits in the day")
    parser.add_argument("--rows", type=int, default=1500, help="rows per small commit")
    parser.add_argument("--only", choices=("commits", "compaction"), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "delta.json")
    args = parser.parse_args(argv)
    doc: dict[str, Any] = {"machine": report.machine()}
    doc["measured_at"] = datetime.now(UTC).isoformat()
    work = Path(tempfile.mkdtemp(prefix="velib-bench-delta-"))
    try:
        if args.only in (None, "compaction"):
            doc["compaction"] = compaction(args.commits, args.rows, work)
        if args.only in (None, "commits"):
            doc["commits"] = commits(args.batches, 3, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(doc, indent=2, sort_keys=True))  # noqa: T201 - the bench's own output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
