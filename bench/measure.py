"""Timing, peak-RSS sampling and medians shared by every stage of the bench."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

MB = 1024 * 1024


def role_of(proc: psutil.Process, root_pid: int) -> str:
    """Name a process by what it is (the e2e figure reports RSS per role)."""
    if proc.pid == root_pid:
        return "python"
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "other"
    line = " ".join(cmd)
    if cmd and cmd[0].endswith("java"):
        if "kafka.Kafka" in cmd or "kafka.tools" in line:
            return "kafka_broker_jvm"
        return "spark_jvm" if "spark" in line else "other_jvm"
    if cmd and "python" in cmd[0]:
        return "pyspark_python_workers"
    return "other"


@dataclass
class RssSampler:
    """Sample the RSS of this process (and optionally its descendants) in a thread.

    ``ru_maxrss`` would give the lifetime peak, including the workload loading
    that happens before a stage starts; sampling only while the stage runs
    gives the stage's own peak.
    """

    interval_s: float = 0.02
    children: bool = False
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    start_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        me = psutil.Process(os.getpid())
        while True:
            per_role: dict[str, int] = {}
            procs = [me, *me.children(recursive=True)] if self.children else [me]
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                role = role_of(proc, me.pid)  # not cached: spark-submit execs into java
                per_role[role] = per_role.get(role, 0) + rss
            for role, rss in per_role.items():
                self.peak[role] = max(self.peak.get(role, 0), rss)
            self.peak_total = max(self.peak_total, sum(per_role.values()))
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> RssSampler:
        self.start_rss = psutil.Process(os.getpid()).memory_info().rss
        self._thread = threading.Thread(target=self._sample, name="rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> dict[str, Any]:
        """Peaks in MiB: own process, per role (with children) and the sum."""
        out: dict[str, Any] = {
            "start_rss_mb": round(self.start_rss / MB, 1),
            "peak_rss_mb": round(self.peak.get("python", 0) / MB, 1),
        }
        if self.children:
            out["peak_rss_mb_by_process"] = {k: round(v / MB, 1) for k, v in self.peak.items()}
            out["peak_rss_mb_total"] = round(self.peak_total / MB, 1)
        return out


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """Wall seconds of the block, in ``result["seconds"]`` (monotonic clock)."""
    result: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - started


def timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` under a stopwatch; its dict gains ``seconds``."""
    with stopwatch() as watch:
        out = fn()
    return {**out, "seconds": round(watch["seconds"], 3)}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """Median of one numeric key over runs."""
    return statistics.median(float(r[key]) for r in runs)


def rate(count: float, seconds: float) -> float:
    """Records per second, 0 for an empty interval."""
    return round(count / seconds, 1) if seconds > 0 else 0.0


def summarize(runs: list[dict[str, Any]], count_keys: tuple[str, ...]) -> dict[str, Any]:
    """Median seconds and median records/s of each count over the runs, with every run kept."""
    out: dict[str, Any] = {
        "runs": len(runs),
        "median_seconds": round(median_of(runs, "seconds"), 3),
    }
    for key in count_keys:
        out[f"{key}"] = int(runs[0][key])
        out[f"{key}_per_s"] = round(
            statistics.median(rate(float(r[key]), float(r["seconds"])) for r in runs), 1
        )
    out["each_run"] = runs
    return out
