"""`python -m soak` (`make soak`): the live chain against a misbehaving feed, with crashes.

Runs ``velib run --live`` against the local feed (``--local-feed``) replaying a
real recording at high speed with every fault kind, kills stages with SIGKILL
in turn (ingest, capture, the Spark driver, the Kafka broker), stops it all
with SIGTERM, then checks (:mod:`soak.checks`) that every state change the
feed served reached the topic, the CSV and ``status/`` exactly once, that every
fault became a dead letter or a retried poll and none a crash, that nothing is
left running, and how each process's memory moved. Writes
``reports/soak/latest.json``. ``make test`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from soak import checks

ROOT = Path(__file__).resolve().parent.parent
KILLS = ("ingest", "capture", "stream", "broker")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=300.0, help="seconds of live run (300)")
    p.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="feed speed, recorded s per s (600: the bundled 2-day sample in under 5 minutes)",
    )
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (1)")
    p.add_argument("--recording", type=Path, default=ROOT / "data/raw/opendata-history")
    p.add_argument("--faults", default="each", help="feed faults (velib feed serve --faults)")
    p.add_argument("--kill", default=",".join(KILLS), help=f"stages to SIGKILL in turn: {KILLS}")
    p.add_argument("--out", type=Path, default=ROOT / "reports/soak/latest.json")
    p.add_argument("--keep", type=Path, help="keep the live folder here (default: a temp dir)")
    args = p.parse_args(argv)
    args.kill = [k for k in args.kill.split(",") if k]
    bad = [k for k in args.kill if k not in KILLS]
    if bad or args.duration <= 0 or args.speed <= 0 or args.interval <= 0:
        p.error(f"bad --kill {bad}" if bad else "duration, speed and interval must be positive")
    if not args.recording.exists():
        p.error(f"no such recording: {args.recording}")
    return args


def stage_processes(root: psutil.Process) -> dict[str, psutil.Process]:
    """The live chain's processes by role: its stages, the Spark JVM, the broker JVM."""
    found: dict[str, psutil.Process] = {}
    for proc in root.children(recursive=True):
        try:
            line = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "kafka.Kafka" in line:
            found["broker"] = proc
        elif "pipeline.cli" in line:
            for stage in ("ingest", "capture", "stream"):
                if f"pipeline.cli {stage}" in line:
                    found[stage] = proc
        elif "java" in line and "pyspark" in line:
            found["spark_jvm"] = proc
    return found


def rss_mb(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        try:
            out[name] = round(proc.memory_info().rss / 2**20, 1)
        except psutil.NoSuchProcess:
            continue
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    live = args.keep or Path(tempfile.mkdtemp(prefix="velib-soak-"))
    argv = [
        sys.executable, "-m", "pipeline.cli", "run", "--live", "--live-dir", str(live),
        "--local-feed", str(args.recording), "--feed-speed", str(args.speed),
        "--feed-faults", args.faults, "--interval", str(args.interval), "--status-every", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (live / "soak.log").open("wb") if live.exists() else None
    if log is None:
        live.mkdir(parents=True)
        log = (live / "soak.log").open("wb")
    started = time.monotonic()
    chain = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    root = psutil.Process(chain.pid)
    kills: list[dict[str, Any]] = []
    rss_start: dict[str, float] = {}
    pids_seen: set[int] = set()
    # kills in the first half; memory is sampled after them, so start vs end compares
    # the same processes over the second half
    half = args.duration / 2
    schedule = {
        stage: started + half * (i + 1) / (len(args.kill) + 1) for i, stage in enumerate(args.kill)
    }
    rss_from = half + min(45.0, args.duration / 6)
    try:
        while time.monotonic() - started < args.duration:
            time.sleep(1.0)
            assert chain.poll() is None, f"the live chain exited: {chain.returncode}"
            procs = stage_processes(root)
            pids_seen |= {p.pid for p in root.children(recursive=True)}
            if not rss_start and {"ingest", "capture", "stream"} <= set(procs):
                if time.monotonic() - started > rss_from:
                    rss_start = rss_mb(procs)
            for stage, at in list(schedule.items()):
                if time.monotonic() >= at and stage in procs:
                    procs[stage].send_signal(signal.SIGKILL)
                    kills.append({"stage": stage, "pid": procs[stage].pid,
                                  "after_s": round(time.monotonic() - started, 1)})  # fmt: skip
                    del schedule[stage]
        procs = stage_processes(root)
        rss_end = rss_mb(procs)
        pids_seen |= {p.pid for p in root.children(recursive=True)}
        chain.send_signal(signal.SIGTERM)
        code = chain.wait(timeout=180)
    finally:
        if chain.poll() is None:
            chain.kill()
        log.close()
    left = [pid for pid in pids_seen if psutil.pid_exists(pid) and _alive(pid)]
    report = checks.check(live, ROOT)
    report.update(
        {
            "duration_s": args.duration,
            "speed": args.speed,
            "faults": args.faults,
            "recording": str(args.recording),
            "kills": kills,
            "exit_code": code,
            "left_running": left,
            "rss_mb": {"start": rss_start, "end": rss_end},
            "live_dir": str(live),
        }
    )
    ingest_kills = sum(1 for k in kills if k["stage"] == "ingest")
    # ingest faces the feed: a fault must never crash it (other stages may restart after
    # the broker restart; the supervisor is there for that)
    report["ok"] = bool(
        report["ok"] and code == 0 and not left and report["crashes"]["ingest"] == ingest_kills
    )
    return report


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(checks.summary(report))
    if report["ok"] and args.keep is None:
        shutil.rmtree(report["live_dir"], ignore_errors=True)  # a failed run's folder stays
    elif not report["ok"]:
        print(f"  live folder kept for inspection: {report['live_dir']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
