"""Run the stream's batch function over a topic cut into micro-batches where a test chooses.

Spark's Kafka source cuts a topic into micro-batches by offsets; here the test
chooses the cuts (per partition end offsets), reads each range with Spark's
Kafka source in batch mode and hands it to the job's own
:class:`pipeline.stream.microbatch.BatchStep`, as ``foreachBatch`` would. A
*restart* between two batches drops everything the process held (the state in
memory, the open tables), as a ``kill -9`` and a restart from the checkpoint
do; a *crash inside* a batch commits only some of its tables and then fails,
and the restarted process replays that batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.kafka import clients
from pipeline.stream.arrow import arrow_schema
from pipeline.stream.export import canonical, read_stream_table
from pipeline.stream.microbatch import (
    OUTPUTS,
    SPARK_WRITES_FROM,
    STATE,
    BatchStep,
    Durations,
    StreamSummary,
)
from pipeline.stream.state import StateStore
from pipeline.stream.tables import DeltaTables

Offsets = dict[str, dict[int, int]]  # topic -> partition -> offset


def end_offsets(bootstrap: str, topics: Sequence[str]) -> Offsets:
    """Each partition's end offset of each topic."""
    from kafka import TopicPartition

    consumer = clients.consumer(bootstrap, None)
    try:
        found: Offsets = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
            for tp, end in consumer.end_offsets(parts).items():
                found.setdefault(topic, {})[tp.partition] = end
        return found
    finally:
        consumer.close()


def cuts_at(ends: Offsets, fractions: Sequence[Sequence[float]]) -> list[Offsets]:
    """Batch end offsets from fractions of each partition, one list of fractions per batch.

    ``fractions[i][j]`` places batch ``i``'s end in the ``j``-th partition (in topic and
    partition order) at that share of it; the last batch ends at the end of every
    partition. Cuts are the ones Spark's Kafka source makes when it drains a topic: ends
    never go back, and a batch reads at least one offset of every partition that has
    some left (its rate limit rounds a lagging partition's share up to one).
    """
    slots = [(t, p) for t in sorted(ends) for p in sorted(ends[t])]
    cuts: list[Offsets] = []
    last = {slot: 0 for slot in slots}
    for shares in fractions:
        cut: Offsets = {}
        for (topic, part), share in zip(slots, shares, strict=True):
            end, before = ends[topic][part], last[(topic, part)]
            at = min(end, max(before + 1, round(share * end)))
            cut.setdefault(topic, {})[part] = last[(topic, part)] = at
        cuts.append(cut)
    cuts.append({t: dict(ps) for t, ps in ends.items()})
    return cuts


class Crash(RuntimeError):
    """A process killed inside a batch."""


class CrashingTables(DeltaTables):
    """Tables whose next batch commits only its first ``tables`` tables, then dies."""

    def __init__(self, *args, tables: int, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.left = tables

    def commit_all(self, batch, app, batch_id):  # noqa: ANN001, ANN201
        names = list(batch)[: self.left]
        for name in names:
            self.commit(name, batch[name], app, batch_id)
        raise Crash(f"killed after committing {names} of batch {batch_id}")


@dataclass
class CutRun:
    """One stream over ``topic`` into ``root``: the process state a restart loses.

    Args:
        spark: the session.
        bootstrap: the broker.
        topic: the status topic (its polls topic is ``<topic>-polls``).
        root: outputs under ``root/out``, the state under ``root/cp/state``.
        window / stale_after: the stream's durations.
        spark_writes_from: the batch size from which Spark writes the big tables as files
            (0: always; default: the stream's own threshold).
    """

    spark: object
    bootstrap: str
    topic: str
    root: Path
    window: str = "15 minutes"
    stale_after: str = "2 hours"
    spark_writes_from: int = SPARK_WRITES_FROM

    def __post_init__(self) -> None:
        self.summary = StreamSummary()
        self.restart()

    def restart(self, crash_after_tables: int | None = None) -> None:
        """A new process: nothing in memory; optionally dying inside its first batch."""
        schemas = {n: arrow_schema(s) for n, s in OUTPUTS.items()}
        out = str(self.root / "out")
        if crash_after_tables is None:
            tables = DeltaTables(out, schemas, retain_hours=168)
        else:
            tables = CrashingTables(out, schemas, retain_hours=168, tables=crash_after_tables)
        tables.ensure()
        state = StateStore(str(self.root / "cp" / "state"), STATE, retain_hours=1)
        self.step = BatchStep(
            tables,
            state,
            Durations.parse(self.window, self.stale_after),
            None,
            self.summary,
            f"{self.topic}-polls",
            app_id="cut-run",
            spark_writes_from=self.spark_writes_from,
        )
        self.batch_id = getattr(self, "batch_id", 0)
        self.start: Offsets = getattr(self, "start", {})

    def batch(self, end: Offsets) -> None:
        """Read [the last end, ``end``) of both topics with Spark and run it as one batch."""
        start = {t: {p: self.start.get(t, {}).get(p, 0) for p in ps} for t, ps in end.items()}
        raw = (
            self.spark.read.format("kafka")  # type: ignore[attr-defined]
            .option("kafka.bootstrap.servers", self.bootstrap)
            .option("subscribe", ",".join(sorted(end)))
            .option("startingOffsets", json.dumps(_jsonable(start)))
            .option("endingOffsets", json.dumps(_jsonable(end)))
            .load()
        )
        self.step(raw, self.batch_id)  # a crash leaves batch_id and start where they were
        self.batch_id += 1
        self.start = end


def _jsonable(offsets: Offsets) -> dict[str, dict[str, int]]:
    return {t: {str(p): o for p, o in ps.items()} for t, ps in offsets.items()}


def tables(root: Path) -> dict[str, pa.Table]:
    """Every output table of a run, canonical (sorted rows, no wall-clock column)."""
    return {name: canonical(read_stream_table(root / "out", name), name) for name in OUTPUTS}
