"""A real Spark standalone cluster for the tests: one master and one worker JVM.

PySpark's wheel ships ``bin/spark-class`` but not the ``sbin/start-*.sh``
scripts, so the daemons are started directly, each in its own process group,
on free loopback ports. The worker has one core and 1 GiB, enough for one
executor (its own JVM, fetching the driver's ``spark.jars``). Stopping sends
SIGTERM to the worker first (it kills its executors), then to the master;
their exit code 143 is that SIGTERM, not a failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
START_TIMEOUT_S = 180.0  # master and worker JVMs on two busy cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    """Where the running cluster answers."""

    master_url: str
    ui_port: int
    work_dir: Path

    def state(self) -> dict[str, Any]:
        """The master's JSON status page: workers, active and completed applications."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.load(r)

    def env(self) -> dict[str, str]:
        """The environment of a driver that runs its job on this cluster."""
        return {**daemon_env(), "SPARK_MASTER": self.master_url}


def daemon_env() -> dict[str, str]:
    """Loopback only, small daemon heaps, executors running this Python."""
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m",
        "PYSPARK_PYTHON": sys.executable,
    }


def _wait(what: str, ready: Any, procs: dict[str, subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        for name, proc in procs.items():
            if proc.poll() is not None:
                text = (logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"spark {name} exited with {proc.returncode}: {text}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"spark {what} not ready after {START_TIMEOUT_S:.0f} s")
        time.sleep(0.3)


@contextmanager
def standalone_cluster(base: Path) -> Iterator[Cluster]:
    """Start a master and a worker under ``base`` (logs, work dir); stop both on exit."""
    base.mkdir(parents=True, exist_ok=True)
    work_dir = base / "worker"
    work_dir.mkdir()
    cls = str(SPARK_HOME / "bin" / "spark-class")
    port, ui, wport, wui = (_free_port() for _ in range(4))
    cluster = Cluster(f"spark://127.0.0.1:{port}", ui, work_dir)
    argv = {
        "master": [cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(port), "--webui-port", str(ui)],
        "worker": [cls, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                   "--port", str(wport), "--webui-port", str(wui), "--cores", "1",
                   "--memory", "1g", "--work-dir", str(work_dir), cluster.master_url],
    }  # fmt: skip
    procs: dict[str, subprocess.Popen] = {}
    env = {**daemon_env(), "SPARK_NO_DAEMONIZE": "1"}
    try:
        for name in ("master", "worker"):
            with (base / f"{name}.log").open("wb") as sink:
                procs[name] = subprocess.Popen(
                    argv[name], env=env, stdout=sink, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            if name == "master":
                _wait("master", lambda: cluster.state() is not None, procs, base)
        alive = lambda: any(w["state"] == "ALIVE" for w in cluster.state()["workers"])  # noqa: E731
        _wait("worker", alive, procs, base)
        yield cluster
    finally:
        for name in ("worker", "master"):  # the worker first: it kills its executors
            proc = procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
