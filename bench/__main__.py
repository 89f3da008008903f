"""`python -m bench` (`make bench`): every stage against its ceiling, in one run.

Parses the recorded history once, starts one local Kafka broker, runs each
stage in its own subprocess (:mod:`bench.worker`), prints a table and writes
``reports/bench/latest.json``. Worker logs go to ``reports/bench/<stage>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, workload
from pipeline.settings import project

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "bench"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"  # its first table is rendered from latest.json
STAGES = ("live", "run", "ingest", "capture", "memory", "stream", "e2e", "forecast")
# the live batch: real polls of each recording, from a weekday of each (Paris dates)
LIVE_RECORDINGS = {
    "5-minute": {"path": ROOT / "data" / "raw" / "opendata-2024-11-5min", "first": "2024-11-05"},
    "hourly": {"path": ROOT / "data" / "raw" / "opendata-2022-05", "first": "2022-05-17"},
}
FORECAST_HISTORY = ROOT / "data" / "raw" / "opendata-2022-05"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput of each stage as a ratio to its raw-client ceiling, "
        "peak RSS at 1x and 4x, and the whole chain end to end, on the real "
        "open-data history replayed with shifted times.",
    )
    p.add_argument("--records", type=int, default=300_000, help="ingest workload (records seen)")
    p.add_argument(
        "--stream-records", type=int, default=100_000, help="records in the small stream topic"
    )
    p.add_argument(
        "--stream-records-large",
        type=int,
        default=1_000_000,
        help="records in the large stream topic, one round (0 skips it)",
    )
    p.add_argument(
        "--memory-records", type=int, default=50_000, help="1x of the memory runs (4x is 4 times)"
    )
    p.add_argument(
        "--e2e-records", type=int, default=1_000_000, help="end-to-end workload (records seen)"
    )
    p.add_argument("--live-polls", type=int, default=21, help="real polls, one batch each")
    p.add_argument(
        "--live-singles", type=int, default=10, help="one-record batches (the fixed cost)"
    )
    p.add_argument("--runs", type=int, default=3, help="rounds of ingest, capture and memory")
    p.add_argument("--stream-runs", type=int, default=3, help="rounds of the Spark comparison")
    p.add_argument("--e2e-runs", type=int, default=1, help="end-to-end runs")
    p.add_argument("--only", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    p.add_argument("--history", type=Path, default=workload.HISTORY, help="recorded history")
    p.add_argument(
        "--forecast-history",
        type=Path,
        default=FORECAST_HISTORY,
        help="the recording the forecast trains on (default: the bundled two weeks)",
    )
    p.add_argument("--out", type=Path, default=OUT / "latest.json", help="JSON report path")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in args.only if s not in STAGES]
    if bad:
        p.error(f"unknown stage {bad[0]!r}; choose from {', '.join(STAGES)}")
    if min(args.records, args.stream_records, args.memory_records, args.e2e_records) < 1:
        p.error("sizes must be positive")
    if min(args.runs, args.stream_runs, args.e2e_runs) < 1:
        p.error("run counts must be positive")
    if not args.history.exists():
        p.error(f"recorded history not found: {args.history}")
    return args


def _stream_sizes(args: argparse.Namespace) -> list[int]:
    """The stream topic sizes: the small one (rounds) and the large one (one round)."""
    return sorted({args.stream_records, args.stream_records_large} - {0})


def run_worker(stage: str, params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One stage in a fresh interpreter; its stderr goes to reports/bench/<stage>.log."""
    inp, out = tmp / f"{stage}.in.json", tmp / f"{stage}.out.json"
    inp.write_text(json.dumps({"stage": stage, **params}), encoding="utf-8")
    out.unlink(missing_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{stage}.log"
    started = time.perf_counter()
    print(f"  {stage} ...", end="", flush=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n=== {stage} {json.dumps(params)}\n")
        fh.flush()
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker", str(inp), str(out)],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )
    print(f" {time.perf_counter() - started:.0f} s", flush=True)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench stage {stage} failed (exit {done.returncode}); see {log}")
    return json.loads(out.read_text(encoding="utf-8"))


def _memory(
    args: argparse.Namespace, common: dict[str, Any], tmp: Path, capture_topic: str, avail: int
) -> dict[str, Any]:
    """Peak RSS of ingest and capture at 1x and 4x, each run in its own process."""
    results: dict[str, Any] = {"ingest": {"1x": [], "4x": []}, "capture": {"1x": [], "4x": []}}
    for scale, factor in (("1x", 1), ("4x", 4)):
        n = args.memory_records * factor
        for _ in range(args.runs):
            run = run_worker("ingest_memory", {**common, "records": n}, tmp)
            results["ingest"][scale].append({**run, "records_asked": n})
            if capture_topic:
                m = min(n, avail)
                run = run_worker(
                    "capture_memory", {**common, "topic": capture_topic, "records": m}, tmp
                )
                results["capture"][scale].append({**run, "records_asked": m})
    if not capture_topic:
        del results["capture"]
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wall = time.perf_counter()
    from pipeline.kafka.broker import LocalBroker

    print(f"bench: parsing {args.history} once ...", flush=True)
    snaps, facts = workload.load_history(args.history)
    facts["span_days"] = round(workload.span(snaps).total_seconds() / 86400, 2)
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="velib-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "history.pickle"
        workload.save(snaps, cache)
        del snaps
        common: dict[str, Any] = {"cache": str(cache), "history": str(args.history)}
        with LocalBroker() as broker:
            common["bootstrap"] = broker.bootstrap
            print(f"bench: broker on {broker.bootstrap}; stages:", flush=True)
            ingest = {}
            if {"ingest", "capture", "memory", "stream"} & set(args.only):
                ingest = run_worker(
                    "ingest",
                    {
                        **common,
                        "records": args.records,
                        "runs": args.runs if "ingest" in args.only else 1,
                        "stream_sizes": _stream_sizes(args) if "stream" in args.only else [],
                        "heartbeat_s": float(
                            project.params_section("ingest").get("heartbeat_s", 3600)
                        ),
                        "warmup_records": min(5_000, args.stream_records),
                    },
                    tmp,
                )
                if "ingest" in args.only:
                    raw["ingest"] = ingest
            topic, avail = ingest.get("capture_topic", ""), ingest.get("capture_topic_records", 0)
            if "capture" in args.only:
                raw["capture"] = run_worker(
                    "capture", {**common, "topic": topic, "records": avail, "runs": args.runs}, tmp
                )
            if "memory" in args.only:
                raw["memory"] = _memory(args, common, tmp, topic, avail)
            if "live" in args.only:
                raw["live"] = run_worker(
                    "live",
                    {
                        **common,
                        "recordings": {
                            name: {"path": str(r["path"]), "first": r["first"]}
                            for name, r in LIVE_RECORDINGS.items()
                        },
                        "polls": args.live_polls,
                        "singles": args.live_singles,
                    },
                    tmp,
                )
            if "run" in args.only:
                raw["run"] = run_worker("run", common, tmp)
            if "stream" in args.only:
                raw["stream"] = run_worker(
                    "stream",
                    {
                        **common,
                        "topics": ingest["stream_topics"],
                        "small_max": args.stream_records,
                        "warmup_topic": ingest["warmup_topic"],
                        "runs": args.stream_runs,
                    },
                    tmp,
                )
        if "forecast" in args.only:  # no broker: it reads recorded files
            raw["forecast"] = run_worker("forecast", {"history": str(args.forecast_history)}, tmp)
        if "e2e" in args.only:  # the chain starts (and stops) its own broker, like `make run`
            raw["e2e"] = [
                run_worker("e2e", {**common, "records": args.e2e_records}, tmp)
                for _ in range(args.e2e_runs)
            ]
    sizes = {
        "records": args.records,
        "capture_records": ingest.get("capture_topic_records"),
        "stream_records": {
            size: spec["records"] for size, spec in ingest.get("stream_topics", {}).items()
        },
        "memory_records_1x": args.memory_records,
        "memory_records_4x": 4 * args.memory_records,
        "e2e_records": args.e2e_records,
        "runs": args.runs,
        "stream_runs": args.stream_runs,
        "e2e_runs": args.e2e_runs,
        "stages": args.only,
        "notes": [
            "ingest: in-memory scaled Snapshots (parse + normalize done once, outside the "
            "timing; workload.parse_records_per_s is that cost); heartbeat 0 as replay.",
            "ingest ratio = ceiling seconds / ingest seconds per round for the same messages "
            "(ceiling = the messages ingest emits, pre-serialized); median over rounds.",
            "capture reads the topic the first ingest run wrote (changed records, heartbeat 0); "
            "the stream topics hold what ingest emits with its heartbeat (params.yaml), "
            "as `velib run` does.",
            "memory: lazily built workload, one process per run; peak RSS includes the parsed "
            "base history (start_rss_mb) that every run holds alike.",
            f"e2e: {args.e2e_runs} run(s) of the `velib run` chain (own broker, ingest, "
            "capture + Spark) on the scaled workload; fewer than 3 because one run is "
            "Spark-bound and long.",
            "forecast: one member trained on every day of the two weeks at the params.yaml "
            "size (features, climatology, five boosters), then every station forecast at one "
            "issue time, 8 issue times of the last day (median and max).",
        ],
    }
    doc = report.document(report.figures(raw), sizes, facts, ROOT, time.perf_counter() - wall)
    publish(doc, args.out)
    print()
    print(report.table(doc))
    print(f"\nwritten {args.out} in {doc['bench_wall_seconds']:.0f} s")
    return 0


def publish(doc: dict[str, Any], out: Path) -> None:
    """Write the report; the documented run (latest.json) also renders docs/benchmarks.md."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    if out == OUT / "latest.json":
        BENCHMARKS.write_text(report.render(doc, BENCHMARKS), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
