"""One micro-batch of the stream job, through every output (:class:`BatchStep`).

``foreachBatch`` hands each micro-batch here: parse once, advance the
per-station state pass of :mod:`pipeline.stream.timeline`, write every table through
:mod:`pipeline.stream.tables` (Delta; a replayed batch writes nothing twice), publish
the alerts, save the state. :class:`StreamSummary` adds the batches up for the
command line and the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline import poll, vocabulary
from pipeline.settings import project
from pipeline.stream import indicators, timeline
from pipeline.stream.tables import DeltaStore

log = logging.getLogger(__name__)

STATION_SCHEMA = vocabulary.spark_schema(vocabulary.STATION)
# Every table the stream writes and every frame of the state it keeps between batches,
# by name with its schema: the store creates, writes and reads exactly these.
OUTPUTS: dict[str, T.StructType] = {
    "status": indicators.status_schema(),
    "polls": T.StructType([*poll.spark_schema().fields, T.StructField("date", T.DateType())]),
    "indicators_station": STATION_SCHEMA,
    "indicators_area": vocabulary.spark_schema(vocabulary.AREA),
    "alerts": vocabulary.spark_schema(vocabulary.ALERT),
    "_rejected": indicators.rejected_schema(),
}
STATE: dict[str, T.StructType] = timeline.state_schemas()  # records, polls, seen
# Outputs of a few rows a batch: one file each (a task without rows writes an empty file
# Delta leaves out of its log, on disk until the next vacuum). status and
# indicators_station keep the batch's partitions: a replay's batch can hold millions.
SMALL = ("polls", "indicators_area", "alerts", "_rejected")


@dataclass
class StreamSummary:
    """What one run wrote: rows per output and how far the output is complete."""

    records_in: int = 0
    polls_in: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {name: 0 for name in OUTPUTS})
    alerts_published: int = 0
    late: int = 0
    batches: int = 0
    complete_until: str | None = None

    @property
    def alerts(self) -> int:
        """Alert rows written to ``alerts/`` in this run."""
        return self.rows.get("alerts", 0)

    @property
    def rejected(self) -> int:
        """Values written to ``_rejected/`` in this run."""
        return self.rows.get("_rejected", 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for metrics JSON and logs)."""
        return {**asdict(self), "alerts": self.alerts, "rejected": self.rejected}

    def line(self) -> str:
        """One line for the command line and logs."""
        rows = " ".join(f"{name}={n}" for name, n in self.rows.items())
        return (
            f"records_in={self.records_in} polls_in={self.polls_in} {rows} "
            f"alerts_published={self.alerts_published} "
            f"late={self.late} batches={self.batches} complete_until={self.complete_until or '-'}"
        )


@dataclass(frozen=True)
class Durations:
    """The stream's durations in microseconds, parsed once."""

    window_us: int
    stale_after_us: int

    @classmethod
    def parse(cls, window: str, stale_after: str) -> Durations:
        """From texts like '15 minutes' and '2 hours'; ValueError with the option's name."""
        parsed = {}
        for name, text in (("window", window), ("stale_after", stale_after)):
            try:
                parsed[name] = int(project.parse_duration(text).total_seconds() * 1_000_000)
            except ValueError as exc:
                raise ValueError(f"stream {name}: {exc}") from None
        return cls(parsed["window"], parsed["stale_after"])


def _by_partition(saved: dict[str, int] | None) -> dict[int, int]:
    """A per-partition dict of the state's meta (JSON keys are strings)."""
    return {int(k): v for k, v in (saved or {}).items()}


def _iso(us: int | None) -> str | None:
    from datetime import UTC, datetime

    from pipeline.record import format_timestamp

    if us is None:
        return None
    return format_timestamp(datetime.fromtimestamp(us / 1_000_000, tz=UTC))


class BatchStep:
    """The ``foreachBatch`` function: one micro-batch through every output.

    Args:
        store: where tables and state go.
        durations: window and stale threshold.
        publish: writes the batch's alert rows to the alerts topic (or None).
        summary: counts added up across batches.
        polls_topic: the polls topic, read in the same query (its rows are polls).
    """

    def __init__(
        self,
        store: DeltaStore,
        durations: Durations,
        publish: Any,
        summary: StreamSummary,
        polls_topic: str | None = None,
    ) -> None:
        self.store = store
        self.polls_topic = polls_topic
        self.d = durations
        self.publish = publish
        self.summary = summary
        self.idle = threading.Event()  # clear while a batch runs: a clean stop waits for it
        self.idle.set()

    def __call__(self, raw: DataFrame, batch_id: int) -> None:
        """Process one micro-batch (re-run with the same id and input after a crash)."""
        started = time.monotonic()
        keep: list[DataFrame] = []
        self.idle.clear()

        def cached(frame: DataFrame) -> DataFrame:
            keep.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
            return frame

        try:
            counts = self._process(raw, batch_id, cached)
        finally:
            # newest first: uncaching a frame another cached frame was built on makes
            # Spark re-plan that one (measured: ~20 s a batch in creation order)
            for frame in reversed(keep):
                frame.unpersist()
            self.idle.set()
        self._report(batch_id, counts, time.monotonic() - started)

    def _process(self, raw: DataFrame, batch_id: int, cached: Any) -> dict[str, Any]:
        started = time.monotonic()
        parsed = cached(indicators.parse_values(raw, self.polls_topic))
        state, meta = self.store.load_state(batch_id, STATE)
        step = timeline.advance(
            state,
            indicators.valid_records(parsed, with_position=True),
            cached(indicators.valid_polls(parsed)),
            complete_until_us=meta.get("complete_until_us"),
            partition_newest_us=_by_partition(meta.get("partition_newest_us")),
            polls_newest_us=_by_partition(meta.get("polls_newest_us")),
            window_us=self.d.window_us,
            stale_after_us=self.d.stale_after_us,
            cache=cached,
        )
        log.debug("batch %d: parsed and ordered in %.2f s", batch_id, time.monotonic() - started)
        frames = dict(step.frames)
        frames["_rejected"] = indicators.rejected_rows(parsed, frames.pop("out_of_order"))
        counts: dict[str, Any] = {"late": step.late, "complete_until_us": step.complete_until_us}
        # the area rows rolled up from the station rows, computed once (cached); not from
        # the table: a replay may find them committed already and write nothing
        station = frames["indicators_station"] = cached(frames["indicators_station"])
        frames["indicators_area"] = indicators.area_rows(
            station, self.d.window_us / 1e6, step.window_polls
        )
        started = time.monotonic()
        small = {n: f.coalesce(1) if n in SMALL else f for n, f in frames.items()}
        counts.update(self.store.write_all(small, batch_id))
        log.debug(
            "batch %d: %d tables written in %.2f s",
            batch_id,
            len(frames),
            time.monotonic() - started,
        )
        started = time.monotonic()
        if self.publish is not None and counts.get("alerts"):
            self.publish(frames["alerts"])
            counts["published"] = counts["alerts"]
        log.debug("batch %d: alerts published in %.2f s", batch_id, time.monotonic() - started)
        started = time.monotonic()
        self.store.save_state(
            batch_id,
            step.kept,
            {
                "complete_until_us": step.complete_until_us,
                "partition_newest_us": {str(k): v for k, v in step.partition_newest_us.items()},
                "polls_newest_us": {str(k): v for k, v in step.polls_newest_us.items()},
            },
        )
        log.debug("batch %d: state saved in %.2f s", batch_id, time.monotonic() - started)
        for row in parsed.groupBy("is_poll").agg(F.count(F.lit(1)).alias("n")).collect():
            counts["polls_in" if row["is_poll"] else "records_in"] = int(row["n"])
        return counts

    def _report(self, batch_id: int, counts: dict[str, Any], seconds: float) -> None:
        s = self.summary
        s.batches += 1
        s.records_in += counts.get("records_in", 0)
        s.polls_in += counts.get("polls_in", 0)
        s.late += counts["late"]
        s.alerts_published += counts.get("published", 0)
        for name in OUTPUTS:
            s.rows[name] += counts.get(name, 0)
        s.complete_until = _iso(counts["complete_until_us"]) or s.complete_until
        log.info(
            "stream batch %d: %s, late %d, complete until %s, %.1f s",
            batch_id,
            " ".join(f"{n}+{counts.get(n, 0)}" for n in OUTPUTS),
            counts["late"],
            s.complete_until or "-",
            seconds,
        )
