"""What one micro-batch hands the next, kept in memory and in one Delta table under the checkpoint.

The state after batch ``n`` is the per-station pass's kept frames
(:func:`pipeline.stream.timeline.state_schemas`: each station's last records,
the polls not yet in a written window and the keys of the last week's polls,
each station's last sighting) and the :class:`~pipeline.stream.frontier.Frontier`.
It is small (a few rows per station) and written after the batch's tables,
in one delta-rs commit to ``<checkpoints>/state``: a struct column per frame
(a row holds one frame's row), a ``meta`` row with the frontier, every row
tagged ``batch_id = n`` (the partition). So the newest state is the newest
batch whose every table is written.

Batch ``n`` reads the newest state committed *before* ``n``: a replay of ``n``
after a crash starts from the state its first attempt started from, even when
that attempt had committed its own. Each save keeps that base partition and
its own, and removes the rest (one commit: an overwrite of ``batch_id <> base``).
Within one process the state also stays in memory, so a running stream reads
the table only when it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T

from pipeline.delta.read import BATCH
from pipeline.stream.arrow import arrow_schema
from pipeline.stream.frontier import Frontier
from pipeline.stream.tables import create_table

log = logging.getLogger(__name__)

STATE = "state"  # the state's table, under the checkpoint root
META = "meta"  # its column of the batch's frontier (JSON), set on one row a batch


@dataclass(frozen=True)
class State:
    """The kept frames (Arrow, by name) and the frontier after a batch."""

    frames: Mapping[str, pa.Table] = field(default_factory=dict)
    frontier: Frontier = field(default_factory=Frontier)


class StateStore:
    """The state table at ``path`` for frames of ``schemas``, with the last state in memory.

    Args:
        path: ``<checkpoints>/state``.
        schemas: every kept frame's Spark schema, by name.
        retain_hours: log and removed-file retention of the table.
    """

    def __init__(self, path: str, schemas: Mapping[str, T.StructType], retain_hours: float) -> None:
        self.path = path
        self.schemas = {name: arrow_schema(schema) for name, schema in schemas.items()}
        self.retain_hours = retain_hours
        self._memory: tuple[int, State] | None = None  # the last state this process saved
        self._base: dict[int, int | None] = {}  # batch id -> the batch its state came from

    def _table_schema(self) -> pa.Schema:
        frames = [pa.field(n, pa.struct(schema)) for n, schema in sorted(self.schemas.items())]
        return pa.schema([pa.field(BATCH, pa.int64()), pa.field(META, pa.string()), *frames])

    def ensure(self) -> None:
        """Create the (empty) state table unless it exists."""
        create_table(self.path, self._table_schema(), BATCH, self.retain_hours)

    def empty(self) -> State:
        """The state before the first batch."""
        return State({name: schema.empty_table() for name, schema in self.schemas.items()})

    def load(self, batch_id: int) -> State:
        """The state committed by the newest batch before ``batch_id`` (empty at first)."""
        if self._memory is not None and self._memory[0] == batch_id - 1:
            self._base[batch_id] = self._memory[0]
            return self._memory[1]
        from deltalake import DeltaTable

        self.ensure()
        table = DeltaTable(self.path).to_pyarrow_table(filters=[(BATCH, "<", batch_id)])
        marks = table.filter(pc.is_valid(table[META]))
        if marks.num_rows == 0:
            self._base[batch_id] = None
            return self.empty()
        base = pc.max(marks[BATCH]).as_py()
        self._base[batch_id] = base
        rows = table.filter(pc.equal(table[BATCH], base))
        meta = marks.filter(pc.equal(marks[BATCH], base))[META][0].as_py()
        frames = {}
        for name, schema in self.schemas.items():
            mine = rows.filter(pc.is_valid(rows[name])) if name in rows.column_names else None
            frames[name] = (
                schema.empty_table()
                if mine is None or mine.num_rows == 0
                else pa.Table.from_struct_array(mine[name].combine_chunks()).cast(schema)
            )
        log.info("stream state: batch %d starts from the state of batch %d", batch_id, base)
        return State(frames, Frontier.from_json(meta))

    def _rows(self, batch_id: int, state: State) -> pa.Table:
        schema = self._table_schema()
        parts: list[dict[str, pa.Array | pa.ChunkedArray | list]] = [
            {BATCH: [batch_id], META: [state.frontier.to_json()]}
        ]
        for name in sorted(self.schemas):
            frame = state.frames[name].select(self.schemas[name].names).cast(self.schemas[name])
            if frame.num_rows:
                packed = frame.to_struct_array()
                parts.append({BATCH: [batch_id] * frame.num_rows, name: packed})
        tables = [
            pa.table(
                {
                    f.name: part[f.name] if f.name in part else pa.nulls(rows, f.type)
                    for f in schema
                },
                schema=schema,
            )
            for part in parts
            for rows in [len(part[BATCH])]
        ]
        return pa.concat_tables(tables)

    def save(self, batch_id: int, state: State, app: str) -> None:
        """Commit the state after ``batch_id`` (once: a replay finding it committed skips it)."""
        from deltalake import DeltaTable, write_deltalake
        from deltalake.transaction import CommitProperties, Transaction

        from pipeline.delta.read import commit_note

        self.ensure()
        table = DeltaTable(self.path)
        done = table.transaction_version(app)
        if done is None or done < batch_id:
            keep = self._base.pop(batch_id, batch_id - 1)
            write_deltalake(
                table,
                self._rows(batch_id, state),
                mode="overwrite",
                predicate=f"{BATCH} <> {-1 if keep is None else keep}",
                partition_by=[BATCH],
                schema_mode="merge",  # a frame added to the state is a new column
                commit_properties=CommitProperties(
                    app_transactions=[Transaction(app, batch_id)],
                    custom_metadata={"userMetadata": commit_note(app, batch_id)},
                ),
            )
        self._memory = (batch_id, state)
