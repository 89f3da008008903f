"""pipeline.live without processes: the status line, Spark progress, restart backoff, stage argv.

No stage is started: Stage.start is replaced by a stub and exits are played by fakes,
so the supervisor's schedule (1 s, 2 s, ... 60 s; reset after 5 minutes of health) runs
on a fake clock.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import live
from pipeline.live import (
    HEALTHY_AFTER_S,
    MAX_BACKOFF_S,
    Stage,
    Supervisor,
    status_line,
)
from pipeline.settings.run import RunSettings

# --- the status line ------------------------------------------------------------------------


def test_status_line_lists_facts_in_order() -> None:
    facts = {"polls_today": 12, "records": 4500, "capture_lag": 0, "spark_batch": None}
    assert status_line(facts, {"stream": 0, "capture": 0, "ingest": 0}) == (
        "live: polls_today=12 records=4500 capture_lag=0 spark_batch=None"
    )


def test_status_line_shows_only_stages_that_restarted() -> None:
    line = status_line({"records": 1}, {"stream": 0, "capture": 2, "ingest": 1})
    assert line == "live: records=1 restarts={'capture': 2, 'ingest': 1}"
    assert status_line({}, {}) == "live: "


# --- the supervisor ---------------------------------------------------------------------


def exited(code: int) -> subprocess.Popen[bytes]:
    """A real process that has exited with ``code`` (negative: killed by that signal)."""
    script = f"kill -{-code} $$" if code < 0 else f"exit {code}"
    process = subprocess.Popen(["sh", "-c", script])
    process.wait()
    return process


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(live.time, "monotonic", fake)
    return fake


@pytest.fixture
def supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> Iterator[Supervisor]:
    """A supervisor whose stages run ``sleep`` (a real process) instead of a velib command.

    The supervision logic is what is tested here; the real stages under it (and their
    Kafka broker and Spark) are killed and restarted in tests/integration/test_soak.py.
    """
    settings = RunSettings.build({"live_dir": str(tmp_path / "live")})
    started: list[subprocess.Popen[bytes]] = []

    def start(self: Stage) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(["sleep", "300"])
        started.append(self.process)
        self.started_at = clock.now
        return self.process

    monkeypatch.setattr(Stage, "start", start)
    sup = Supervisor(settings, settings.stages(), "localhost:9092", {"PATH": "/bin"})
    sup.start()
    yield sup
    for process in started:
        process.kill()
        process.wait()


def test_stages_run_velib_commands_under_the_live_folder(tmp_path: Path) -> None:
    settings = RunSettings.build({"live_dir": str(tmp_path / "live"), "interval_s": "30"})
    sup = Supervisor(settings, settings.stages(), "broker:9092", {"K": "v"})
    root = tmp_path / "live"
    names = [s.name for s in sup.stages]
    assert names == ["stream", "capture", "ingest", "forecast"]  # ingest after its readers
    by_name = {s.name: s for s in sup.stages}
    for stage in sup.stages[:3]:
        assert stage.argv[:3] == [sys.executable, "-m", "pipeline.cli"]
        assert stage.argv[3] == stage.name
        assert stage.argv[-2:] == ["--bootstrap-servers", "broker:9092"]
        assert stage.log_path == root / "logs" / f"{stage.name}.log"
        assert stage.env == {"K": "v"}
    assert by_name["stream"].argv[4:7] == ["--live", "--out", str(root / "processed")]
    assert by_name["capture"].argv[4:7] == ["--follow", "--out", str(root / "csv")]
    ingest = by_name["ingest"].argv[4:]
    assert ingest[:4] == ["--source", settings.source, "--follow", "--interval"]
    assert float(ingest[4]) == 30.0
    assert ingest[5:7] == ["--archive", str(root / "archive")]
    forecast = by_name["forecast"]
    assert forecast.argv[3:9] == ["forecast", "live", "--processed", str(root / "processed"),
                                  "--out", str(root / "forecasts")]  # fmt: skip
    assert forecast.argv[9] == "--model" and forecast.argv[10].endswith("forecast.zip")
    assert forecast.log_path == root / "logs" / "forecast.log"


def test_nothing_to_report_while_every_stage_runs(supervisor: Supervisor, clock: Clock) -> None:
    assert supervisor.watch() == []
    assert supervisor.restarts() == {"stream": 0, "capture": 0, "ingest": 0, "forecast": 0}
    assert supervisor.pids() == {s.name: s.process.pid for s in supervisor.stages}


def _crash(stage: Stage, code: int = 1) -> None:
    stage.process.kill()
    stage.process.wait()
    stage.process = exited(code)


def test_restart_backoff_doubles_up_to_a_minute(supervisor: Supervisor, clock: Clock) -> None:
    capture = supervisor.stages[1]
    delays = []
    for _ in range(9):
        _crash(capture, 3)
        events = supervisor.watch()
        assert len(events) == 1 and events[0].startswith("capture exited with code 3; restart in")
        delay = capture.next_start - clock.now
        delays.append(delay)
        assert f"restart in {delay:.0f} s" in events[0]
        assert "capture" not in supervisor.pids()
        clock.now += delay - 0.5
        assert supervisor.watch() == []  # not yet
        clock.now += 0.5
        assert supervisor.watch() == [f"capture restarted (restart #{capture.restarts})"]
        clock.now += 10  # healthy for a short while only: no reset
        assert supervisor.watch() == []
    assert delays == [1, 2, 4, 8, 16, 32, MAX_BACKOFF_S, MAX_BACKOFF_S, MAX_BACKOFF_S]
    assert supervisor.restarts() == {"stream": 0, "capture": 9, "ingest": 0, "forecast": 0}


def test_backoff_resets_after_five_healthy_minutes(supervisor: Supervisor, clock: Clock) -> None:
    ingest = supervisor.stages[2]
    for _ in range(3):  # 1 s, 2 s, 4 s
        _crash(ingest)
        supervisor.watch()
        clock.now = ingest.next_start
        supervisor.watch()
    assert ingest.failures == 3
    clock.now += HEALTHY_AFTER_S - 1
    supervisor.watch()
    assert ingest.failures == 3  # not yet healthy long enough
    clock.now += 2
    supervisor.watch()
    assert ingest.failures == 0
    _crash(ingest)
    assert supervisor.watch() == ["ingest exited with code 1; restart in 1 s"]


def test_stages_back_off_independently(supervisor: Supervisor, clock: Clock) -> None:
    stream, capture, _, _ = supervisor.stages
    _crash(stream, -9)
    supervisor.watch()
    clock.now = stream.next_start
    supervisor.watch()
    _crash(stream, -9)
    _crash(capture, 1)
    assert supervisor.watch() == [
        "stream exited with code -9; restart in 2 s",
        "capture exited with code 1; restart in 1 s",
    ]


def test_a_stage_never_started_has_not_exited(tmp_path: Path) -> None:
    stage = Stage("x", ["true"], {}, tmp_path / "x.log")
    assert stage.exited() is None
    stage.stop()  # nothing to stop, nothing raised


# --- the local broker watchdog -------------------------------------------------------------


def test_restart_backoff_doubles_to_a_minute() -> None:
    assert [live.backoff_s(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_local_feed_resumes_after_the_newest_archived_poll(tmp_path: Path) -> None:
    """A second `make live` on the same folder goes on, instead of serving stale answers."""
    from pipeline.live import _resume_feed
    from pipeline.localfeed.server import FeedServer
    from pipeline.sources import archive
    from pipeline.sources.feeds import GbfsFeed, http_session

    history = Path(__file__).resolve().parents[1] / "fixtures" / "history"
    store = archive.Archive(tmp_path / "archive")
    with FeedServer(history, speed=0) as server:
        feed = GbfsFeed(server.gbfs_base_url, session=http_session(retries=1, backoff_s=0),
                        recorder=store.write)  # fmt: skip
        for index in range(3):
            server.seek(index)
            polled = feed.poll()
    store.close()
    with FeedServer(history, speed=0) as again:
        assert again.clock.index() == 0
        _resume_feed(again, tmp_path / "archive", "gbfs")
        assert again.recording.times[again.clock.index()] > polled.observed_at
        assert again.clock.index() == 3


def test_a_broker_that_ran_five_minutes_restarts_after_one_second_again() -> None:
    healthy = live.HEALTHY_AFTER_S
    assert live.failures_in_a_row([], 100.0) == 0
    assert live.failures_in_a_row([0.0, 10.0, 20.0], 30.0) == 3  # in a row: 8 s next
    assert live.failures_in_a_row([0.0, 10.0, 20.0], 20.0 + healthy + 1) == 0
    # six restarts spread over days, then two close together: the streak is the last two
    days = [i * 86_400.0 for i in range(6)]
    assert live.failures_in_a_row([*days, days[-1] + 60.0], days[-1] + 120.0) == 2
    assert live.backoff_s(live.failures_in_a_row(days, days[-1] + 2 * healthy)) == 1


# --- the daily compaction -------------------------------------------------------------------


def test_compaction_runs_velib_compact_when_due_one_run_at_a_time(
    tmp_path: Path, clock: Clock
) -> None:
    import os

    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    settings = RunSettings.build({"live_dir": str(tmp_path / "live")})
    compaction = live.Compaction(settings, settings.stages().compact, dict(os.environ))
    assert compaction.tick() is None and compaction.stage.process is None  # no tables yet
    status = tmp_path / "live" / "processed" / "status"
    for day in ("2022-05-12", "2022-05-12", "2022-05-13"):
        write_deltalake(status, pa.table({"code": ["A"], "date": [day]}), mode="append",
                        partition_by=["date"])  # fmt: skip
    assert compaction.tick() is None and compaction.stage.process is not None  # started
    assert compaction.stage.argv[3:] == [
        "compact",
        str(tmp_path / "live" / "processed"),
        "--retain",
        "168.0",
    ]
    compaction.stage.process.wait(timeout=120)
    said = compaction.tick()
    assert (
        said
        == f"compaction of {tmp_path / 'live' / 'processed'} ended with code 0 (logs/compact.log)"
    )
    assert len(DeltaTable(status).file_uris()) == 2  # 2022-05-12 compacted, the newest day not
    assert (
        "compact: tables=1 files=3->2" in (tmp_path / "live" / "logs" / "compact.log").read_text()
    )
    clock.now += 23 * 3600
    assert compaction.tick() is None and compaction.stage.process is None  # not due yet
    clock.now += 3600
    compaction.tick()
    assert compaction.stage.process is not None  # a day later: again
    compaction.stop()
    assert compaction.stage.process.poll() is not None
