"""`python -m bench.candidates`: the stream design against its candidates, on one workload.

The issue asked to measure before choosing. On one local broker and one
SparkSession, over the same 3-partition topic of real records (filled as
`make bench` fills its stream topics), each with availableNow and a fresh
checkpoint:

* ``spark_plain_copy``: Kafka -> Parquet, no parsing (the ceiling);
* ``stream``: the project's ``run_stream`` (foreachBatch, every output);
* ``tws_state_pass``: ``transformWithStateInPandas`` doing the state pass only
  (per station, the previous state over [previous observed_at, this
  observed_at)), no windows, area rows or alerts. It does LESS work than
  ``stream``, so its rate is an UPPER BOUND for a transformWithStateInPandas design.

A candidate that fails (e.g. protobuf missing for transformWithStateInPandas)
is reported with its error instead of stopping the comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import kafka_stages, report, spark_stages, workload
from bench.measure import rate, timed
from pipeline import record
from pipeline.settings import project

ROOT = Path(__file__).resolve().parent.parent
UPPER_BOUND = (
    "tws_state_pass is the state pass only (no windows, area, alerts, status or rejected "
    "outputs): less work than stream, so an upper bound for a transformWithStateInPandas design"
)
STATE_FIELDS: tuple[str, ...] = record.STATE_FIELDS
ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def _state_fields(*first: tuple[str, Any]) -> list[Any]:
    """StructFields: ``first`` (name, type) pairs, then the record's state fields."""
    from pyspark.sql import types as T

    kinds = {f.name: f.dataType for f in record.spark_schema().fields}
    named = [*first, *((n, kinds[n]) for n in STATE_FIELDS)]
    return [T.StructField(name, kind) for name, kind in named]


def _processor() -> Any:
    """A StatefulProcessor keeping each station's last (observed_at, state) in a ValueState.

    Built in a function so importing this module needs no pandas or Spark.
    """
    import pandas as pd
    from pyspark.sql import types as T
    from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle

    cols = ["o_us", *STATE_FIELDS]
    schema = T.StructType(_state_fields(("o_us", T.LongType())))
    native = [bool if isinstance(f.dataType, T.BooleanType) else int for f in schema.fields]

    class LastState(StatefulProcessor):
        def init(self, handle: StatefulProcessorHandle) -> None:
            self.last = handle.getValueState("last", schema)

        def handleInputRows(  # noqa: N802 - Spark's name
            self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any = None
        ) -> Iterator[pd.DataFrame]:
            batch = pd.concat(list(rows), ignore_index=True).sort_values(["partition", "offset"])
            prev = self.last.get() if self.last.exists() else None
            # accept a record only when observed after every earlier arrival (timeline.arrange)
            seen = batch["o_us"].cummax().shift(1)
            if prev is not None:
                seen = seen.fillna(prev[0]).clip(lower=prev[0])
            line = batch.loc[seen.isna() | (batch["o_us"] > seen), cols]
            if prev is not None:
                line = pd.concat([pd.DataFrame([list(prev)], columns=cols), line])
            line = line.reset_index(drop=True)
            if line.empty:
                return
            last = line.iloc[-1]
            self.last.update(
                tuple(None if pd.isna(v) else f(v) for f, v in zip(native, last, strict=True))
            )
            # each record closes the interval of the state before it
            out = line.iloc[:-1].rename(columns={"o_us": "start_us"}).reset_index(drop=True)
            out.insert(0, "station_code", key[0])
            out.insert(2, "end_us", line["o_us"].iloc[1:].to_numpy())
            yield out

        def close(self) -> None:
            pass

    return LastState()


def run_tws_state_pass(spark: Any, bootstrap: str, topic: str) -> dict[str, Any]:
    """Parse, then the per-station state pass in transformWithStateInPandas, to Parquet."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from pipeline.stream import parse
    from pipeline.stream.job import read_kafka

    # Its own session (same SparkContext): the RocksDB provider is set for this query only.
    session = spark.newSession()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.streaming.stateStore.providerClass", ROCKSDB)
    output = T.StructType(
        _state_fields(
            ("station_code", T.StringType()), ("start_us", T.LongType()), ("end_us", T.LongType())
        )
    )
    out = Path(tempfile.mkdtemp(prefix="velib-bench-tws-"))
    try:
        parsed = parse.parse_values(read_kafka(session, bootstrap_servers=bootstrap, topic=topic))
        valid = parse.valid_records(parsed, with_position=True).select(
            "station_code",
            F.unix_micros("observed_at").alias("o_us"),
            *STATE_FIELDS,
            "partition",
            "offset",
        )
        intervals = (
            valid.groupBy("station_code")
            .transformWithStateInPandas(
                statefulProcessor=_processor(),
                outputStructType=output,
                outputMode="Append",
                timeMode="None",
            )
            .observe("tws_out", F.count(F.lit(1)).alias("n"))  # rows out, no read-back
        )
        query = (
            intervals.writeStream.format("parquet")
            .option("path", str(out / "data"))
            .option("checkpointLocation", str(out / "_checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        progress = query.recentProgress
        metrics = [p["observedMetrics"].get("tws_out") for p in progress]
        return {
            "rows_out": sum(int(m["n"]) for m in metrics if m is not None),
            "state_rows": max(
                (int(p["stateOperators"][0]["numRowsTotal"]) for p in progress), default=0
            ),
            "records": sum(int(p["numInputRows"]) for p in progress),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _cause(exc: Exception) -> str:
    """The root error: a Python worker's last traceback line, else the first line."""
    texts, java = [str(exc)], getattr(exc, "_origin", None)
    while java is not None:  # the JVM cause chain carries the Python worker's traceback
        texts.append(str(java.toString()))
        java = java.getCause()
    text = "\n".join(texts)
    at = text.find("Traceback (most recent call last):")
    found = re.findall(r"^\s*(\w+(?:Error|Exception): .*)$", text[at:], re.M) if at >= 0 else []
    return f"{type(exc).__name__}: {found[0] if found else text.splitlines()[0]}"[:600]


def _guarded(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Report a failure as the candidate's result (records 0, the error), not a crash."""

    def run() -> dict[str, Any]:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the error is the finding
            out: dict[str, Any] = {"records": 0, "error": _cause(exc)}
            if report._version("protobuf") == "absent":
                out["hint"] = "protobuf is not installed: pip install 'protobuf>=6.33.5,<7'"
            return out

    return run


def measure(spark: Any, bootstrap: str, topic: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Each contender once per round, rotating who goes first (as bench.worker does)."""
    alerts_topic = f"bench.candidates.alerts.{uuid.uuid4().hex[:8]}"
    contenders: dict[str, Callable[[], dict[str, Any]]] = {
        "spark_plain_copy": lambda: spark_stages.run_plain_copy(spark, bootstrap, topic),
        "stream": lambda: spark_stages.run_stream_job(spark, bootstrap, topic, alerts_topic),
        "tws_state_pass": _guarded(lambda: run_tws_state_pass(spark, bootstrap, topic)),
    }
    names = list(contenders)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(runs):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out[name].append(timed(contenders[name]))
            print(f"  round {r + 1} {name}: {out[name][-1]}", file=sys.stderr, flush=True)
    return out


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median seconds, records/s and speed as a fraction of the copy's, per contender."""
    copy = runs["spark_plain_copy"]
    out: dict[str, Any] = {}
    for name, each in runs.items():
        error = next((r["error"] for r in each if "error" in r), None)
        ratios = [c["seconds"] / r["seconds"] for c, r in zip(copy, each, strict=True)]
        out[name] = {
            "median_seconds": round(statistics.median(r["seconds"] for r in each), 3),
            "records": int(each[0]["records"]),
            "records_per_s": statistics.median(rate(r["records"], r["seconds"]) for r in each),
            "ratio_to_copy": None if error else round(statistics.median(ratios), 3),
            "error": error,
            "each_run": each,
        }
    return out


def table(doc: dict[str, Any]) -> str:
    """The printed summary."""
    lines = [
        f"candidates on {doc['records_in_topic']} records, {doc['runs']} round(s), "
        f"{doc['machine']['cpus']} cpus, load {doc['machine']['load_average']}",
        f"{'contender':<18}{'seconds':>9}{'records':>9}{'records/s':>11}{'x copy':>8}  rows out",
    ]
    for name, s in doc["results"].items():
        run = s["each_run"][0]
        rows = run.get("rows_out", run.get("rows", ""))
        if isinstance(rows, dict):
            rows = " ".join(f"{k}={v}" for k, v in rows.items())
        ratio = "-" if s["ratio_to_copy"] is None else f"{s['ratio_to_copy']:.3f}"
        lines.append(
            f"{name:<18}{s['median_seconds']:>9.1f}{s['records']:>9}"
            f"{s['records_per_s']:>11.0f}{ratio:>8}  {rows}"
        )
        if s["error"]:
            lines.append(f"  FAILED: {s['error']}")
            lines += [f"  hint: {r['hint']}" for r in s["each_run"][:1] if "hint" in r]
    lines.append(f"note: {UPPER_BOUND}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.candidates", description=__doc__.split("\n")[0]
    )
    p.add_argument("--records", type=int, default=100_000, help="records in the topic")
    p.add_argument("--runs", type=int, default=1, help="rounds (contenders rotate)")
    p.add_argument("--history", type=Path, default=workload.HISTORY, help="recorded history")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "candidates.json")
    args = p.parse_args(argv)
    if args.records < 1 or args.runs < 1:
        p.error("--records and --runs must be positive")
    from pipeline.kafka.broker import LocalBroker
    from pipeline.stream.session import get_spark

    wall = time.perf_counter()
    base, facts = workload.load_history(args.history)
    heartbeat_s = float(project.params_section("ingest").get("heartbeat_s", 3600))
    with LocalBroker() as broker:
        topic = f"bench.candidates.{uuid.uuid4().hex[:8]}"
        filled = kafka_stages.fill_stream_topic(
            base, args.records, heartbeat_s, broker.bootstrap, topic
        )
        del base
        spark = get_spark("velib-bench-candidates")
        try:
            warm = timed(lambda: spark_stages.run_plain_copy(spark, broker.bootstrap, topic))
            runs = measure(spark, broker.bootstrap, topic, args.runs)
        finally:
            spark.stop()
    doc = {
        "records_asked": args.records,
        "records_in_topic": filled,
        "runs": args.runs,
        "heartbeat_s": heartbeat_s,
        "history": facts,
        "warmup_copy": warm,
        "results": summarize(runs),
        "notes": [
            UPPER_BOUND,
            "one Spark session, one broker, availableNow, fresh checkpoint and output per run; "
            "ratio_to_copy = median over rounds of copy seconds / contender seconds.",
            "tws_state_pass runs in spark.newSession() with the RocksDB state store provider; "
            "the others keep the session's default provider. Intervals are epoch microseconds.",
        ],
        "machine": report.machine(),
        "versions": {**report.versions(ROOT), "protobuf": report._version("protobuf")},
        "wall_seconds": round(time.perf_counter() - wall, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(table(doc))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
