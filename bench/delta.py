"""`python -m bench.delta`: what the Delta tables cost per micro-batch, and what compaction buys.

Two measurements for issue 19, written to ``reports/bench/delta.json``:

* ``commits`` (Spark, one local session): per micro-batch, the stream's five
  output tables (one of 1,500 rows, four of 50) and its state (1,500 rows and
  the meta row), written through :class:`pipeline.stream.tables.DeltaStore`,
  then the same frames as plain Parquet appends (the data writes the retired
  hand-made store did before its renames and ``meta.json``), then the Delta
  batch replayed (every write skipped by its transaction id). The first
  batches are left out (JVM and Delta warm-up); medians per batch;
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
ROWS = {"status": 1500, "polls": 50, "indicators_area": 50, "alerts": 50, "_rejected": 50}


def _frame(spark: Any, rows: int, batch: int, day: date) -> Any:
    from pyspark.sql import functions as F

    return (
        spark.range(rows)
        .select(
            F.format_string("%05d", F.col("id")).alias("station_code"),
            (F.col("id") + batch).cast("int").alias("bikes_available"),
            F.lit(datetime(day.year, day.month, day.day, tzinfo=UTC)).alias("observed_at"),
            F.lit(day).alias("date"),
        )
        .coalesce(1 if rows <= 50 else 2)
    )


def commits(batches: int, warmup: int, work: Path) -> dict[str, Any]:
    """Median seconds per micro-batch: Delta store, plain Parquet, Delta replay."""
    from pipeline.stream.session import get_spark
    from pipeline.stream.tables import DeltaStore

    spark = get_spark("velib-bench-delta")
    day = date(2026, 1, 1)
    schema = _frame(spark, 1, 0, day).schema
    store = DeltaStore(spark, str(work / "delta"), str(work / "delta_cp"), app_id="bench")
    store.ensure_tables(dict.fromkeys(ROWS, schema))
    state_schema = {"records": schema}
    timings: dict[str, list[float]] = {"delta": [], "parquet": [], "delta_replay": []}
    for batch in range(batches):
        frames = {name: _frame(spark, rows, batch, day).cache() for name, rows in ROWS.items()}
        for frame in frames.values():
            frame.count()
        state = _frame(spark, 1500, batch, day).cache()
        state.count()

        def delta(b: int = batch, f: dict[str, Any] = frames, s: Any = state) -> None:
            store.load_state(b, state_schema)
            for name, frame in f.items():
                store.write(name, frame, b)
            store.save_state(b, {"records": s}, {"batch": b})

        def parquet(b: int = batch, f: dict[str, Any] = frames, s: Any = state) -> None:
            for name, frame in f.items():
                frame.write.mode("append").partitionBy("date").parquet(str(work / "pq" / name))
            s.write.mode("overwrite").parquet(str(work / "pq_state" / f"{b:010d}" / "records"))
            (work / "pq_state" / f"{b:010d}" / "meta.json").write_text(json.dumps({"batch": b}))

        for kind, step in (("delta", delta), ("parquet", parquet), ("delta_replay", delta)):
            started = time.perf_counter()
            step()
            if batch >= warmup:
                timings[kind].append(time.perf_counter() - started)
        for frame in [*frames.values(), state]:
            frame.unpersist()
    spark.stop()
    medians = {kind: round(statistics.median(values), 3) for kind, values in timings.items()}
    return {
        "batches_measured": batches - warmup,
        "tables_per_batch": len(ROWS),
        "median_s_per_batch": medians,
        "mean_s_per_batch": {k: round(statistics.fmean(v), 3) for k, v in timings.items()},
        "max_s_per_batch": {k: round(max(v), 3) for k, v in timings.items()},
        "delta_overhead_s_per_batch": round(medians["delta"] - medians["parquet"], 3),
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
    parser.add_argument("--batches", type=int, default=13, help="micro-batches (3 are warm-up)")
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
