"""Change detection: emit a station only when its state changed, or on heartbeat.

The state compared is :attr:`StationRecord.state` (counts, flags, capacity); a
new ``last_reported`` or ``observed_at`` alone is not a change, because the
feed re-reports unchanged stations and, the other way round, counts change
under an unchanged ``duedate`` (seen in the seed's table).

A station has one state per instant: a record observed no later than the
station's last emission is never emitted, even when its state differs. That
happens when the feed answers the same feed time again with another
``station_information`` (a restarted ingest fetches the current one; a station
added since then gets its capacity): a second state at the same ``observed_at``
would leave the topic, the CSV and the stream (which keeps the first,
``repeated``) disagreeing on which one held. The new state is emitted with the
station's next observation, when the feed's clock has moved.

The detector holds, per station, the last state *emitted* and the observed time
of that emission. It is rebuilt after a restart from the topic's latest record
per key (see :func:`pipeline.ingest.resume.restore_from_topic`), so what was emitted
is the only truth: a crash neither repeats nor misses a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from pipeline.record import State, StationRecord


class Decision(Enum):
    """Why a record is (or is not) emitted."""

    CHANGED = "changed"
    HEARTBEAT = "heartbeat"
    UNCHANGED = "unchanged"
    NOT_LATER = "not_later"  # observed no later than the last emission: that instant has a state


@dataclass
class _Last:
    state: State
    emitted_at: datetime


class ChangeDetector:
    """Per-station memory of the last emission.

    Args:
        heartbeat_s: re-emit an unchanged station once this many seconds of
            observed time passed since its last emission; 0 disables.
    """

    def __init__(self, heartbeat_s: float = 0) -> None:
        self.heartbeat_s = float(heartbeat_s)
        self._last: dict[str, _Last] = {}
        self.not_later = 0  # records held back as Decision.NOT_LATER (logged by ingest)

    def __len__(self) -> int:
        return len(self._last)

    def decide(self, record: StationRecord) -> Decision:
        """Classify a record against the last emission, without remembering it."""
        last = self._last.get(record.station_code)
        if last is None:
            return Decision.CHANGED
        if record.observed_at <= last.emitted_at:
            return Decision.UNCHANGED if last.state == record.state else Decision.NOT_LATER
        if last.state != record.state:
            return Decision.CHANGED
        if (
            self.heartbeat_s > 0
            and (record.observed_at - last.emitted_at).total_seconds() >= self.heartbeat_s
        ):
            return Decision.HEARTBEAT
        return Decision.UNCHANGED

    def remember(self, record: StationRecord) -> None:
        """Record that this record was emitted (or found in the topic)."""
        self._last[record.station_code] = _Last(record.state, record.observed_at)

    def process(self, records: Iterable[StationRecord]) -> list[tuple[StationRecord, Decision]]:
        """Decide and remember in one go; returns only what must be emitted."""
        out: list[tuple[StationRecord, Decision]] = []
        for record in records:
            decision = self.decide(record)
            if decision is Decision.CHANGED or decision is Decision.HEARTBEAT:
                self.remember(record)
                out.append((record, decision))
            elif decision is Decision.NOT_LATER:
                self.not_later += 1
        return out

    def restore(self, records: Iterable[StationRecord]) -> None:
        """Load the latest emitted record per station (later records win)."""
        for record in records:
            self.remember(record)

    def last_state(self, code: str) -> State | None:
        """The last emitted state of a station, or None when never emitted."""
        last = self._last.get(code)
        return None if last is None else last.state
