"""`python -m soak` (`make soak`): the live chain for simulated days, with faults and crashes.

Runs ``velib run --live`` against the local feed (``--local-feed``) replaying a
real recording at ``--speed`` recorded seconds per real second with every fault
kind; the chain polls it at the matching interval (a real minute, compressed)
and compacts its tables every simulated day. Each stage (ingest, capture, the
Spark driver, the Kafka broker) is killed with SIGKILL at seeded random times,
each at least once. Every ``--sample-every`` seconds it samples micro-batch
durations, resident memory, Delta files and bytes, checkpoint, state, Kafka log
and archive sizes and the consumers' lag (:mod:`soak.sampler`). Then it stops
the chain with SIGTERM and checks (:mod:`soak.checks`) that every state change
the feed served reached the topic, the CSV and ``status/`` exactly once, that
the tables equal a replay of the raw archive, that no fault crashed a stage and
nothing is left running. It writes a JSON and a Markdown report with one trend
per measure (slope per simulated day, :mod:`soak.report`) and PNG figures.

``make soak`` is 0.25 simulated day; ``make soak DAYS=14 SPEED=120`` the long run.
``make test`` runs a short one (tests/integration/test_soak.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from soak import checks, report, sampler

ROOT = Path(__file__).resolve().parent.parent
KILLS = ("ingest", "capture", "stream", "broker")
DAY_S = 86400.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    p.add_argument("--days", type=float, default=0.25, help="simulated days to run (0.25)")
    p.add_argument(
        "--speed", type=float, default=120.0, help="recorded seconds per real second (120)"
    )
    p.add_argument(
        "--interval",
        type=float,
        help="real seconds between polls (default: a recorded minute, 60/speed, at least 0.5)",
    )
    p.add_argument("--recording", type=Path, default=ROOT / "data/raw/opendata-2022-05")
    p.add_argument("--faults", default="each", help="feed faults (velib feed serve --faults)")
    p.add_argument("--kill", default=",".join(KILLS), help=f"stages to SIGKILL: {KILLS}")
    p.add_argument(
        "--kills-per-day", type=float, default=1.0, help="kills per stage per simulated day (1)"
    )
    p.add_argument("--seed", type=int, default=30, help="seed of the kill times (30)")
    p.add_argument("--sample-every", type=float, help="real seconds between samples")
    p.add_argument("--out", type=Path, help="report JSON (default reports/soak/soak-DAYSd-SPEEDx)")
    p.add_argument("--no-replay", action="store_true", help="skip the replay check of the tables")
    p.add_argument("--keep", type=Path, help="keep the live folder here (default: a temp dir)")
    args = p.parse_args(argv)
    args.kill = [k for k in args.kill.split(",") if k]
    bad = [k for k in args.kill if k not in KILLS]
    if bad or args.days <= 0 or args.speed <= 0 or (args.interval or 1) <= 0:
        p.error(f"bad --kill {bad}" if bad else "days, speed and interval must be positive")
    if not args.recording.exists():
        p.error(f"no such recording: {args.recording}")
    args.duration = args.days * DAY_S / args.speed
    args.interval = args.interval or max(0.5, 60.0 / args.speed)
    args.sample_every = args.sample_every or min(60.0, max(5.0, args.duration / 40))
    name = f"soak-{args.days:g}d-{args.speed:g}x"
    args.out = args.out or ROOT / "reports" / "soak" / f"{name}.json"
    return args


def kill_times(args: argparse.Namespace) -> list[tuple[float, str]]:
    """(real seconds from start, stage), seeded: each stage once, then ``kills_per_day``.

    The first kill of each stage falls in its own slot of 10-70 % of the run (in
    a seeded order); further kills come as a Poisson process per stage. None in
    the last fifth (the checks see a settled chain) and none closer than ``gap``
    to another, so each recovery is measured alone.
    """
    rng = random.Random(args.seed)
    end = 0.8 * args.duration
    gap = min(40.0, 0.6 * args.duration / (2 * max(1, len(args.kill))))
    stages = list(args.kill)
    rng.shuffle(stages)
    slot = 0.6 * args.duration / max(1, len(stages))
    start = 0.1 * args.duration
    times = [
        (round(start + i * slot + gap / 2 + rng.random() * max(0.0, slot - gap), 1), stage)
        for i, stage in enumerate(stages)
    ]
    rate = args.kills_per_day * args.speed / DAY_S  # kills per real second, per stage
    if rate > 0:
        for stage in args.kill:
            t = start + rng.expovariate(rate)
            while t < end:
                if all(abs(t - other) >= gap for other, _ in times):
                    times.append((round(t, 1), stage))
                t += rng.expovariate(rate)
    return sorted(times)


def chain_env(args: argparse.Namespace) -> dict[str, str]:
    """The chain's environment: compaction every simulated day, retention a simulated week."""
    day_h = 24.0 / args.speed
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "VELIB_COMPACT_EVERY_HOURS": f"{day_h:.6f}",
        "VELIB_COMPACT_RETAIN_HOURS": f"{max(1.0, 7 * day_h):.6f}",
    }


class Watch:
    """What the soak sees of the running chain: the kills it made and the samples it took."""

    def __init__(self, args: argparse.Namespace, live: Path, started: float) -> None:
        from pipeline.settings.capture import CaptureSettings
        from pipeline.settings.ingest import IngestSettings

        self.args, self.live, self.started = args, live, started
        self.schedule = kill_times(args)
        self.kills: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []
        self.sample_errors: list[str] = []
        self.batches = sampler.BatchLog(live / "logs" / "stream.log")
        self.topic, self.group = IngestSettings.build().topic, CaptureSettings.build().group
        self.next_sample = started + args.sample_every

    def kill_due(self, procs: dict[str, psutil.Process], now: float) -> None:
        """SIGKILL the stages whose time has come, and note when each came back."""
        while self.schedule and now >= self.schedule[0][0] and self.schedule[0][1] in procs:
            _, stage = self.schedule.pop(0)
            procs[stage].send_signal(signal.SIGKILL)
            self.kills.append({"stage": stage, "pid": procs[stage].pid, "after_s": round(now, 1),
                               "sim_day": round(now * self.args.speed / DAY_S, 3)})  # fmt: skip
        for kill in self.kills:
            if "recovered_after_s" not in kill:
                back = procs.get(kill["stage"])
                if back is not None and back.pid != kill["pid"]:
                    kill["recovered_after_s"] = round(now - kill["after_s"], 1)

    def sample_due(self, procs: dict[str, psutil.Process]) -> None:
        """Take a sample when one is due; a failed one is counted, never the end of the soak."""
        if time.monotonic() < self.next_sample:
            return
        self.next_sample += self.args.sample_every
        try:
            self.samples.append(
                sampler.sample(self.live, procs, self.batches, started=self.started,
                               speed=self.args.speed, bootstrap=_bootstrap(self.live),
                               topic=self.topic, group=self.group)
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            self.sample_errors.append(f"{type(exc).__name__}: {exc}")


def _chain(args: argparse.Namespace, live: Path, log: Any) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "pipeline.cli", "run", "--live", "--live-dir", str(live),
        "--local-feed", str(args.recording), "--feed-speed", str(args.speed),
        "--feed-faults", args.faults, "--interval", str(args.interval), "--status-every", "10",
    ]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=ROOT, env=chain_env(args), stdout=log, stderr=subprocess.STDOUT
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The soak: start the chain, kill and sample on schedule, stop it, check it."""
    live = args.keep or Path(tempfile.mkdtemp(prefix="velib-soak-"))
    live.mkdir(parents=True, exist_ok=True)
    log = (live / "soak.log").open("wb")
    started = time.monotonic()
    chain = _chain(args, live, log)
    root = psutil.Process(chain.pid)
    watch = Watch(args, live, started)
    seen: set[tuple[int, float]] = set()  # (pid, start time): a pid the machine reuses is not ours
    try:
        while time.monotonic() - started < args.duration:
            time.sleep(0.5)
            assert chain.poll() is None, f"the live chain exited: {chain.returncode}"
            procs = sampler.stage_processes(root)
            seen |= _identities(root)
            watch.kill_due(procs, time.monotonic() - started)
            watch.sample_due(procs)
        seen |= _identities(root)
        chain.send_signal(signal.SIGTERM)
        code = chain.wait(timeout=300)
    finally:
        if chain.poll() is None:
            chain.kill()
        log.close()
    wall = time.monotonic() - started
    left = _left_running(seen)
    found = checks.check(live, ROOT, replay=not args.no_replay)
    found.update(
        {
            "days": args.days,
            "speed": args.speed,
            "interval_s": args.interval,
            "duration_s": round(args.duration, 1),
            "wall_s": round(wall, 1),
            "wall_s_per_sim_day": round(wall / args.days, 1),
            "seed": args.seed,
            "faults": args.faults,
            "recording": str(args.recording),
            "kills": watch.kills,
            "exit_code": code,
            "left_running": left,
            "samples": watch.samples,
            "sample_errors": watch.sample_errors,
            "batch_durations": watch.batches.batches,
            "trends": report.trends(watch.samples),
            "live_dir": str(live),
        }
    )
    # ingest faces the feed: a feed fault must never crash it (every stage may exit
    # while the broker restarts, ingest included; the supervisor restarts them)
    found["ok"] = bool(
        found["ok"]
        and code == 0
        and not left
        and not found["ingest_errors_not_kafka"]
        and all("recovered_after_s" in k for k in watch.kills)
        and found.get("tables_equal_replay") is not False
    )
    return found


def _bootstrap(live: Path) -> str | None:
    port = live / "kafka" / "port"
    return f"127.0.0.1:{port.read_text().strip()}" if port.exists() else None


def _identities(root: psutil.Process) -> set[tuple[int, float]]:
    found = set()
    for child in root.children(recursive=True):
        try:
            found.add((child.pid, child.create_time()))
        except psutil.NoSuchProcess:
            pass
    return found


def _left_running(seen: set[tuple[int, float]], grace_s: float = 30.0) -> list[str]:
    """The chain's processes still alive ``grace_s`` after it exited, as "pid command".

    A stage's JVM may take a few seconds to go after its Python parent; a pid is
    ours only while its start time is the one seen during the run.
    """
    deadline = time.monotonic() + grace_s
    while True:
        left = [desc for pid, created in sorted(seen) if (desc := _alive(pid, created))]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(1.0)


def _alive(pid: int, created: float) -> str | None:
    try:
        proc = psutil.Process(pid)
        if proc.create_time() != created or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{pid} {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return None


def write(found: dict[str, Any], out: Path) -> None:
    """The JSON, the Markdown beside it and the figures in a folder of the same name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = out.with_suffix("")
    found["figure_dir"] = figures.name
    found["figures"] = report.figures(found["samples"], figures, found["kills"])
    out.write_text(json.dumps(found, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    out.with_suffix(".md").write_text(report.markdown(found), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found = run(args)
    write(found, args.out)
    print(checks.summary(found))
    print(f"  report: {args.out} and {args.out.with_suffix('.md')}")
    if found["ok"] and args.keep is None:
        shutil.rmtree(found["live_dir"], ignore_errors=True)  # a failed run's folder stays
    elif not found["ok"]:
        print(f"  live folder kept for inspection: {found['live_dir']}")
    return 0 if found["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
