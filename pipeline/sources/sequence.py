"""A recording's answers in order: re-reads, a clock that goes backwards, descriptions left out.

A recorded answer is judged against the answers read before it from the same
folder, because some quirks only show between answers. The rules were chosen from
measurements of the 5-minute open-data recording (docs/recordings.md has the
numbers):

- **identical**: an answer byte for byte equal (gzip undone) to one already read is
  a re-read: the collector was served a cached answer again, sometimes one two polls
  old (A, B, A), whose counts would move stations back in time.
- **frozen** (a manifest's ``rereads: unchanged``): an answer that lists the same
  stations with every count and flag of the previous answer is a re-read too: the
  source did not refresh its counts (a refresh changes about half of 1,485 stations,
  never fewer than 3), even though its ``duedate`` values moved.
- A re-read observed nothing: ingest sends none of its states and no poll
  (:mod:`pipeline.ingest.polls` counts it), so the time it covers stays unobserved.
- An answer with no station record (a failed read, or a broken answer whose rows
  have no station code) is never a re-read: it is a poll that observed no station.
- **clock_backwards**: an answer whose newest ``last_reported`` (``duedate``) is
  earlier than the previous answer's is flagged, and kept as the poll it is: its
  counts are as fresh as the others' (the file time is their clock).
- **described_from_earlier**: a record without name, position and capacity (answers
  that left the stations' description out) takes them from the station's last
  record that had them, so a missing description is not a change of capacity; the
  answer is flagged ``partial_answer``.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.record import State, StationRecord
from pipeline.sources.parsers import Snapshot

IDENTICAL, FROZEN = "identical", "frozen"
BACKWARDS, PARTIAL, DESCRIBED = "clock_backwards", "partial_answer", "described_from_earlier"


class AnswerSequence:
    """The memory of one recording's answers read so far.

    Args:
        rereads: ``identical`` (re-reads by content only) or ``unchanged`` (also an
            answer whose counts all equal the previous answer's).
    """

    def __init__(self, rereads: str = "identical") -> None:
        self.unchanged_is_reread = rereads == "unchanged"
        self.digests: set[str] = set()
        self.states: dict[str, State] | None = None
        self.newest: datetime | None = None
        self.described: dict[str, StationRecord] = {}

    def judge(self, snap: Snapshot) -> Snapshot:
        """The answer with its re-read reason, flags and descriptions set (in place)."""
        if not snap.records:
            return snap  # observed no station: a failed poll, never a re-read
        self._describe(snap)
        states = {r.station_code: r.state for r in snap.records}
        newest = max(r.last_reported for r in snap.records)
        if self.newest is not None and newest < self.newest:
            snap.oddities[BACKWARDS] = 1
        if snap.digest is not None and snap.digest in self.digests:
            snap.reread = IDENTICAL
        elif self.unchanged_is_reread and states == self.states:
            snap.reread = FROZEN
        if snap.digest is not None:
            self.digests.add(snap.digest)
        self.states, self.newest = states, newest
        return snap

    def _describe(self, snap: Snapshot) -> None:
        """Give records without a description the station's last one (see module doc)."""
        described = left_out = 0
        for index, record in enumerate(snap.records):
            if record.name or record.lat is not None or record.capacity is not None:
                self.described[record.station_code] = record
                continue
            left_out += 1
            known = self.described.get(record.station_code)
            if known is None:
                continue
            snap.records[index] = record.replace(
                name=known.name,
                lat=known.lat,
                lon=known.lon,
                capacity=known.capacity,
                commune=record.commune or known.commune,
                arrondissement=record.arrondissement or known.arrondissement,
            )
            described += 1
        if left_out:
            snap.oddities[PARTIAL] = 1
            snap.oddities[DESCRIBED] = described
