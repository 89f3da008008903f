"""pipeline.lifecycle: SIGINT/SIGTERM set the stop event and handlers come back; Progress logs."""

from __future__ import annotations

import io
import logging
import os
import signal
import threading

import pytest
from tqdm import tqdm

from pipeline import lifecycle
from pipeline.lifecycle import Progress, stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_sets_the_event_instead_of_stopping_the_process(sig: signal.Signals) -> None:
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), sig)
        assert stop.wait(1.0)


def test_handlers_are_restored_after_the_block() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals():
        during = {sig: signal.getsignal(sig) for sig in before}
        assert all(during[sig] is not before[sig] for sig in before)
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_handlers_are_restored_when_the_block_raises() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), stop_on_signals():
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_given_event_is_the_one_yielded() -> None:
    mine = threading.Event()
    with stop_on_signals(mine) as stop:
        assert stop is mine
        os.kill(os.getpid(), signal.SIGTERM)
        assert mine.wait(1.0)


def test_off_the_main_thread_no_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: dict[str, object] = {}

    def worker() -> None:
        with stop_on_signals() as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["set"] = stop.is_set()
            stop.set()  # only its holder sets it
            seen["after"] = stop.is_set()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(2.0)
    assert seen == {"handler": before, "set": False, "after": True}


def _progress_without_terminal(every_s: float) -> Progress:
    progress = Progress("capture", every_s=every_s)
    assert progress.bar.disable  # pytest captures stderr: no terminal, so log lines
    return progress


def test_without_terminal_a_log_line_at_most_every_interval(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 101.0, 109.9, 110.0, 125.0])
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: next(clock))
    progress = _progress_without_terminal(every_s=10.0)
    with caplog.at_level(logging.INFO, logger="pipeline.lifecycle"):
        for done in (1, 2, 3, 4, 5):
            progress.update(done)
    progress.close()
    # logged at t=100 (first), skipped at 101 and 109.9, logged at 110 (>= 10 s) and at 125
    assert [r.getMessage() for r in caplog.records] == ["capture: 1", "capture: 4", "capture: 5"]


def test_the_log_line_is_the_given_text_or_callable(caplog: pytest.LogCaptureFixture) -> None:
    progress = _progress_without_terminal(every_s=0.0)
    calls: list[int] = []

    def line() -> str:
        calls.append(1)
        return "42 records, 3 files"

    with caplog.at_level(logging.INFO, logger="pipeline.lifecycle"):
        progress.update(42, line)
        progress.update(43, "fixed text")
    assert [r.getMessage() for r in caplog.records] == [
        "capture: 42 records, 3 files",
        "capture: fixed text",
    ]
    assert calls == [1]


def test_a_callable_line_is_not_built_between_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1000.0, 1001.0])
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: next(clock))
    progress = _progress_without_terminal(every_s=10.0)
    calls: list[int] = []
    progress.update(1, lambda: str(calls.append(1)))
    progress.update(2, lambda: str(calls.append(2)))
    assert calls == [1]


def test_on_a_terminal_the_bar_counts_the_running_total() -> None:
    progress = Progress("ingest", unit=" rec")
    out = io.StringIO()
    progress.bar = tqdm(unit=" rec", desc="ingest", file=out, disable=False, mininterval=0)
    progress.update(5)
    progress.update(12, stations=3)  # a running total, not an increment
    assert progress.bar.n == 12
    assert progress.bar.postfix is not None and "stations=3" in progress.bar.postfix
    progress.close()
    assert "ingest" in out.getvalue()
