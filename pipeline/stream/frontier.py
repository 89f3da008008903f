"""How far the stream's output is complete: a low watermark over every partition of both topics.

Ingest writes each partition in ``observed_at`` order, so a partition's
future records are observed no earlier than its newest one: the least of the
partitions' newest times is a low watermark (Flink's per-partition
watermarks, done by hand), immune to partitions advancing unevenly. The polls
topic's partitions count too once a poll was seen, so a window's observation
counts are final when it is written. A window is written once the watermark
has passed its end, whatever the micro-batch that got it there: the cut of the
topic into batches never changes what is written, only when.

Pure Python on a few numbers a batch, kept in the state's meta between batches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _merge(old: Mapping[int, int], new: Mapping[int, int]) -> dict[int, int]:
    merged = dict(old)
    for partition, newest in new.items():
        merged[partition] = max(merged.get(partition, newest), newest)
    return merged


def floor_to(us: int, window_us: int) -> int:
    """The start of the window holding ``us``."""
    return (us // window_us) * window_us


@dataclass(frozen=True)
class Frontier:
    """The complete part of the output and each partition's newest observed time.

    Attributes:
        complete_until_us: every window ending by it is written (None: none yet).
        records_newest_us: the status topic's newest ``observed_at`` per partition.
        polls_newest_us: the polls topic's newest ok poll per partition.
    """

    complete_until_us: int | None = None
    records_newest_us: Mapping[int, int] = field(default_factory=dict)
    polls_newest_us: Mapping[int, int] = field(default_factory=dict)

    def advance(
        self,
        records_newest_us: Mapping[int, int],
        polls_newest_us: Mapping[int, int],
        window_us: int,
        hi_us: int | None = None,
    ) -> Frontier:
        """The frontier after a batch whose partitions reached these times.

        Args:
            records_newest_us: the batch's newest record time per status partition.
            polls_newest_us: the batch's newest ok poll time per polls partition.
            window_us: the window length (the watermark is floored to a window start).
            hi_us: complete the output up to here instead (tests).
        """
        records = _merge(self.records_newest_us, records_newest_us)
        polls = _merge(self.polls_newest_us, polls_newest_us)
        until = hi_us
        if until is None and (records or polls):
            until = floor_to(min([*records.values(), *polls.values()]), window_us)
        if until is not None and self.complete_until_us is not None:
            until = max(until, self.complete_until_us)
        return Frontier(until, records, polls)

    def closes_windows(self, before: Frontier) -> bool:
        """True when this frontier is past ``before``'s: some window closed in between."""
        if self.complete_until_us is None:
            return False
        return before.complete_until_us is None or self.complete_until_us > before.complete_until_us

    def to_json(self) -> str:
        """The frontier as the state's meta (JSON keys are strings)."""
        return json.dumps(
            {
                "complete_until_us": self.complete_until_us,
                "partition_newest_us": {str(k): v for k, v in self.records_newest_us.items()},
                "polls_newest_us": {str(k): v for k, v in self.polls_newest_us.items()},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Frontier:
        """A frontier from the state's meta (an empty one for None)."""
        meta: dict[str, Any] = json.loads(text) if text else {}

        def by_partition(key: str) -> dict[int, int]:
            return {int(k): int(v) for k, v in (meta.get(key) or {}).items()}

        return cls(
            meta.get("complete_until_us"),
            by_partition("partition_newest_us"),
            by_partition("polls_newest_us"),
        )
