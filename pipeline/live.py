"""``velib run --live``: the whole chain as one supervised process tree, for weeks.

A researcher's first job is to collect: GBFS publishers keep no history. This
runs a local Kafka broker (or uses ``KAFKA_BOOTSTRAP_SERVERS``), live ingest
with its raw archive, capture ``--follow`` and the stream with a
processing-time trigger, each stage a ``velib`` process of its own:

* a stage that exits (crash, kill -9, broker outage) is restarted with
  exponential backoff (1 s, 2 s, ... 60 s; reset after 5 minutes of health)
  and reported; the local broker is restarted on its port and data folder,
  with the same backoff over its failures in a row (the 14-day soak found it
  counting every failure since the start: each restart after the sixth waited
  60 s);
* Ctrl-C / SIGTERM stops ingest first (flush), then capture (pending CSV
  published, offsets committed) and the stream (query stopped), then the feed
  and the broker; every child also dies with this process (parent-death
  signal), so nothing is left running;
* one status line per interval: polls archived, records and dead letters on
  the topics, capture lag, the stream's last batch and how far it is complete;
* the forecaster (``velib forecast live``) appends every station's forecasts
  for the next hour to ``forecasts/`` each time the stream closes a window,
  with the model of ``velib forecast train`` (params.yaml ``forecast.model``);
* every ``compact.every_hours`` (first as soon as the tables exist) ``velib
  compact`` tidies the Delta tables while the stream writes: old date
  partitions compacted, removed files vacuumed after ``compact.retain_hours``.

Everything lives under one folder (default ``data/live``): ``kafka/`` (broker
log), ``archive/`` (raw polls, replayable), ``csv/``, ``processed/``,
``forecasts/`` and ``logs/<stage>.log`` (``logs/compact.log`` too). Restarting
``velib run --live`` resumes all of it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pipeline import lifecycle
from pipeline.settings.run import RunSettings, Stages
from pipeline.settings.tables import CompactSettings
from pipeline.sources.archive import POLL
from pipeline.stream.progress import progress

log = logging.getLogger(__name__)

HEALTHY_AFTER_S = 300.0
MAX_BACKOFF_S = 60.0
STOP_TIMEOUT_S = 60.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    from pipeline.kafka.broker import _die_with_parent as die

    die()


@dataclass
class Stage:
    """One supervised ``velib`` process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0
    next_start: float = 0.0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> subprocess.Popen[bytes]:
        """Start (or restart) the process, its output appended to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is not None:  # a restart: the previous process's handle
            self._log.close()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.started_at = time.monotonic()
        return self.process

    def exited(self) -> int | None:
        """The exit code when the process is gone, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, timeout_s)
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _velib(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


class Supervisor:
    """Starts, watches, restarts and stops the stages of a live run.

    Args:
        settings: the run's settings (``live_dir``, source, feed, intervals).
        stages: every stage's settings, built with the run's (the forecaster's model).
        bootstrap: where Kafka is.
        env: the environment of every stage (Kafka and feed URLs set).
    """

    def __init__(
        self, settings: RunSettings, stages: Stages, bootstrap: str, env: dict[str, str]
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        root = settings.live_dir
        logs = root / "logs"
        ingest = ["ingest", "--source", settings.source, "--follow"]
        ingest += ["--interval", str(settings.interval_s)]
        ingest += ["--archive", str(root / "archive"), "--bootstrap-servers", bootstrap]
        self.stages = [
            Stage(
                "stream",
                _velib(
                    "stream",
                    "--live",
                    "--out",
                    str(root / "processed"),
                    "--bootstrap-servers",
                    bootstrap,
                ),
                env,
                logs / "stream.log",
            ),  # fmt: skip
            Stage(
                "capture",
                _velib(
                    "capture",
                    "--follow",
                    "--out",
                    str(root / "csv"),
                    "--bootstrap-servers",
                    bootstrap,
                ),
                env,
                logs / "capture.log",
            ),  # fmt: skip
            Stage("ingest", _velib(*ingest), env, logs / "ingest.log"),
            Stage(
                "forecast",
                _velib(
                    "forecast",
                    "live",
                    "--processed",
                    str(root / "processed"),
                    "--out",
                    str(root / "forecasts"),
                    "--model",
                    str(stages.forecast.model),
                ),
                env,
                logs / "forecast.log",
            ),  # fmt: skip
        ]

    def start(self) -> None:
        """Start every stage (stream and capture first, so they are ready for ingest)."""
        for stage in self.stages:
            log.info("started %s (pid %d)", stage.name, stage.start().pid)

    def watch(self) -> list[str]:
        """Restart what exited (with backoff); return what happened, one line each."""
        events = []
        now = time.monotonic()
        for stage in self.stages:
            code = stage.exited()
            if code is None:
                if stage.failures and now - stage.started_at > HEALTHY_AFTER_S:
                    stage.failures = 0
                continue
            if stage.next_start == 0.0:
                delay = backoff_s(stage.failures)
                stage.failures += 1
                stage.next_start = now + delay
                events.append(f"{stage.name} exited with code {code}; restart in {delay:.0f} s")
            elif now >= stage.next_start:
                stage.start()
                stage.restarts += 1
                stage.next_start = 0.0
                events.append(f"{stage.name} restarted (restart #{stage.restarts})")
        return events

    def stop(self) -> None:
        """Stop in order: ingest (flush), capture (publish, commit), stream (query stop)."""
        for stage in reversed(self.stages):
            stage.stop()
            log.info("stopped %s", stage.name)

    def restarts(self) -> dict[str, int]:
        """Restarts per stage so far."""
        return {s.name: s.restarts for s in self.stages}

    def pids(self) -> dict[str, int]:
        """The running processes, by stage."""
        return {s.name: s.process.pid for s in self.stages if s.exited() is None and s.process}


class Compaction:
    """``velib compact`` on the live tables every ``every_hours``, one run at a time.

    A child process like the stages (its log in ``logs/compact.log``), but a
    one-shot: it is started when due, never restarted; a failed run is reported
    and the next one comes at the next interval.
    """

    def __init__(self, settings: RunSettings, kept: CompactSettings, env: dict[str, str]) -> None:
        self.kept = kept
        self.tables = settings.live_dir / "processed"
        argv = _velib("compact", str(self.tables), "--retain", str(self.kept.retain_hours))
        self.stage = Stage("compact", argv, env, settings.live_dir / "logs" / "compact.log")
        self.last: float | None = None

    def tick(self) -> str | None:
        """Start a run when due; say how the last one ended when it has."""
        code = self.stage.exited()
        if self.stage.process is not None and code is not None:
            self.stage.process = None
            return f"compaction of {self.tables} ended with code {code} (logs/compact.log)"
        due = self.last is None or time.monotonic() - self.last >= self.kept.every_hours * 3600
        if self.stage.process is None and due and self.tables.is_dir():
            self.last = time.monotonic()
            self.stage.start()
        return None

    def stop(self) -> None:
        """Stop a run still going (its commits are atomic; what it wrote is vacuumed later)."""
        self.stage.stop()


def status(settings: RunSettings, stages: Stages, bootstrap: str) -> dict[str, Any]:
    """What the live chain has done so far (cheap enough to run every interval)."""
    from pipeline.kafka import clients

    root = settings.live_dir
    ingest = stages.ingest
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    out: dict[str, Any] = {
        "polls_today": len(list((root / "archive" / settings.source / day).glob(f"*/{POLL}")))
    }
    try:
        group = stages.capture.group
        consumer = clients.consumer(bootstrap, group, request_timeout_ms=5000)
        try:
            from kafka import TopicPartition

            for name, topic in (
                ("records", ingest.topic),
                ("poll_messages", ingest.polls_topic),
                ("dead_letters", ingest.dead_letter_topic),
            ):
                parts = consumer.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in parts]
                ends = consumer.end_offsets(tps) if tps else {}
                out[name] = sum(ends.values())
                if name == "records":
                    done = sum((consumer.committed(tp) or 0) for tp in tps)
                    out["capture_lag"] = out[name] - done
        finally:
            consumer.close()
    except Exception as exc:  # noqa: BLE001 - a status line must not stop the run
        out["kafka"] = f"unavailable ({exc.__class__.__name__})"
    out.update(progress(root / "processed" / "_checkpoints"))
    return out


def status_line(facts: dict[str, Any], restarts: dict[str, int]) -> str:
    """One line: the status facts, then the restarts that happened."""
    parts = [f"{k}={v}" for k, v in facts.items()]
    done = {k: v for k, v in restarts.items() if v}
    return "live: " + " ".join(parts) + (f" restarts={done}" if done else "")


@contextmanager
def kafka(settings: RunSettings) -> Iterator[tuple[str, Any]]:
    """The cluster to use: KAFKA_BOOTSTRAP_SERVERS, or a local broker kept under live_dir.

    Yields (bootstrap, the local broker or None). The local broker keeps its port
    (``kafka/port``) and data across restarts of the chain and of the broker.
    """
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers, None
        return
    from pipeline.kafka.broker import LocalBroker, free_port

    data = settings.live_dir / "kafka"
    data.mkdir(parents=True, exist_ok=True)
    port_file = data / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    with LocalBroker(port=port, data_dir=data) as broker:
        yield broker.bootstrap, broker


def backoff_s(failures: int) -> float:
    """Seconds before a restart after ``failures`` earlier ones: 1, 2, 4 ... 60 at most."""
    return min(MAX_BACKOFF_S, 2.0**failures)


def failures_in_a_row(times: list[float], now: float) -> int:
    """How many of the failures at ``times`` (monotonic, oldest first) lead up to ``now``.

    Failures belong together while each came less than :data:`HEALTHY_AFTER_S`
    after the one before: a broker that then ran five minutes starts over at 1 s.
    """
    count, later = 0, now
    for t in reversed(times):
        if later - t > HEALTHY_AFTER_S:
            break
        count, later = count + 1, t
    return count


def _watch_broker(broker: Any, failures: list[float]) -> str | None:
    """Restart a local broker that died (the stages reconnect); return what happened."""
    code = None if broker is None else broker.exit_code()
    if code is None:
        return None
    now = time.monotonic()
    delay = backoff_s(failures_in_a_row(failures, now))
    failures.append(now)
    time.sleep(delay)
    broker.start()
    return f"kafka broker exited with code {code}; restarted after {delay:.0f} s"


def run_live(settings: RunSettings) -> dict[str, Any]:
    """Run the chain until SIGINT/SIGTERM; return the last status and the restarts."""
    from pipeline.localfeed.job import serve_in_thread

    stages = settings.stages()  # every stage's settings, checked before anything starts
    settings.live_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with ExitStack() as stack:
        stop = stack.enter_context(lifecycle.stop_on_signals())
        bootstrap, broker = stack.enter_context(kafka(settings))
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        stages = stages.on(bootstrap)
        if settings.local_feed is not None:
            feed = stack.enter_context(serve_in_thread(settings))
            _resume_feed(feed, settings.live_dir / "archive", settings.source)
            env["VELIB_GBFS_BASE_URL"], env["VELIB_OPENDATA_URL"] = (
                feed.gbfs_base_url,
                feed.opendata_url,
            )
            log.info("local feed of %s on %s", settings.local_feed, feed.url)
        supervisor = Supervisor(settings, stages, bootstrap, env)
        stack.callback(supervisor.stop)
        supervisor.start()
        compaction = Compaction(settings, stages.compact, env)
        stack.callback(compaction.stop)
        last = time.monotonic()
        facts: dict[str, Any] = {}
        broker_failures: list[float] = []
        while not stop.wait(1.0):
            events = supervisor.watch()
            restarted = _watch_broker(broker, broker_failures)
            for event in [*events, *([restarted] if restarted else [])]:
                log.warning("%s", event)
            if compacted := compaction.tick():
                log.info("%s", compacted)
            if time.monotonic() - last >= settings.status_every_s:
                last = time.monotonic()
                facts = status(settings, stages, bootstrap)
                log.info("%s", status_line(facts, supervisor.restarts()))
        log.info("stopping the live chain")
    return {
        "status": facts,
        "restarts": {**supervisor.restarts(), "broker": len(broker_failures)},
    }


def _resume_feed(server: Any, archive: Path, source: str) -> None:
    """A local feed goes on after the newest poll already archived, not from its start.

    Replayed from its first snapshot into a live folder that holds later polls,
    every answer would be older than what ingest has read: a stale snapshot,
    one dead letter per poll, until the clock caught up.
    """
    from pipeline.sources.archive import latest, read_archive

    if not (archive / source).is_dir():
        return
    folders = latest(archive, source)
    times = [s.observed_at for s in read_archive(archive, folders=folders) if s.records]
    if not times:
        return
    newest = max(times)
    later = [i for i, t in enumerate(server.recording.times) if t > newest]
    if later:
        server.seek(later[0])
        log.info("local feed resumes after the newest archived poll (%s)", newest.isoformat())
    else:
        log.warning(
            "the local feed's recording ends before the newest archived poll (%s): every "
            "answer will be a stale snapshot; use another --live-dir",
            newest.isoformat(),
        )
