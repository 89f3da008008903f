"""How a long-running stage stops and shows progress: one helper for every command.

``velib ingest --follow``, ``velib capture``, ``velib broker``, ``velib feed``
and ``velib run --live`` all end the same way on Ctrl-C or SIGTERM: an event
is set, the stage finishes what it holds (flush, publish, commit) and
returns. Progress goes to stderr: a tqdm bar on a terminal, a log line every
few seconds otherwise (make, DVC, CI).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def stop_on_signals(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """An event that SIGINT and SIGTERM set while the block runs (handlers restored after).

    Off the main thread (signals cannot be handled there) the event is only set
    by whoever holds it.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Progress:
    """A tqdm bar on a terminal, else a log line at most every ``every_s`` seconds.

    Args:
        name: what is counted ("capture", "ingest").
        unit: the unit shown by the bar.
        every_s: seconds between log lines when stderr is not a terminal.
    """

    def __init__(self, name: str, unit: str = " rec", every_s: float = 10.0) -> None:
        from tqdm import tqdm

        self.name, self.every_s = name, every_s
        self.bar = tqdm(unit=unit, desc=name, disable=None, mininterval=2.0, leave=False)
        self._last = 0.0

    def update(self, done: int, line: Callable[[], str] | str = "", **postfix: Any) -> None:
        """Report the running total ``done``; ``line`` is the log line's text."""
        if self.bar.disable:
            now = time.monotonic()
            if now - self._last >= self.every_s:
                self._last = now
                log.info("%s: %s", self.name, line() if callable(line) else line or done)
            return
        self.bar.update(done - self.bar.n)
        if postfix:
            self.bar.set_postfix(refresh=False, **postfix)

    def close(self) -> None:
        """End the bar."""
        self.bar.close()
