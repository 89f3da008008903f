"""The research export: the stream's tables rewritten canonically, the same bytes every run.

The stream's own tables are working state: Delta tables whose log holds
commit times, random transaction ids and UUID file names (and, after a crash,
files no commit refers to), with checkpoints beside them. A DVC output must be
the same bytes for the same inputs, so ``velib run`` ends with
:func:`export_tables`, which reads every output table
(:data:`pipeline.stream.microbatch.OUTPUTS`, the newest version, with
``deltalake``: no JVM) and writes::

    <dest>/<table>/date=YYYY-MM-DD/part-0.parquet

(the layout :func:`pipeline.research.tables.read_table` reads) with one
writer and fixed settings: rows sorted by the table's key (:data:`ORDER`)
and then by every other column, so ties cannot reorder; timestamps as UTC
microseconds, every column nullable, no schema metadata; zstd at a fixed
level, one row group size; nothing from the wall clock or a random source.
The bytes then depend only on the rows and on the pinned pyarrow version
(its name is in each file's ``created_by``).

The stream's tables are read in one place, :func:`read_stream_table`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.delta.read import read_arrow
from pipeline.stream.microbatch import OUTPUTS

log = logging.getLogger(__name__)

PARTITION = "date"
FILE_NAME = "part-0.parquet"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # what Spark and pyarrow call a null date
# Row order of each table: its key; every other column breaks ties. A table missing
# here (a new output) is sorted by all its columns in order (tests ask for a key).
ORDER: dict[str, tuple[str, ...]] = {
    "status": ("observed_at", "station_code"),
    "polls": ("observed_at", "source"),
    "indicators_station": ("window_start", "station_code"),
    "indicators_area": ("window_start", "area_level", "area"),
    "alerts": ("at", "station_code", "alert"),
    "_rejected": ("topic", "partition", "offset"),
}
# Columns that hold the run's wall clock, not the data's time: left out of the export.
# A rejected value's Kafka timestamp is when the replay produced it (its date folder too).
WALL_CLOCK: dict[str, tuple[str, ...]] = {"_rejected": ("timestamp", PARTITION)}
WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "coerce_timestamps": "us",
    "row_group_size": 1_048_576,
}


def read_stream_table(root: str | Path, name: str) -> pa.Table:
    """One of the stream's tables as Arrow, ``date`` included; empty when it has no rows.

    The one reader of the stream's storage: the newest version of a Delta
    table, through ``deltalake`` (:func:`pipeline.delta.read.read_arrow`).
    """
    table = read_arrow(Path(root) / name)
    return pa.table({}) if table is None else table


def canonical(table: pa.Table, name: str) -> pa.Table:
    """The table with canonical types, no metadata, wall-clock columns dropped, rows sorted.

    Types: dictionary columns decoded, timestamps as UTC microseconds (Spark's
    naive INT96 instants are UTC), every field nullable; so the bytes do not
    depend on how the stream stored the table.
    """
    drop = [c for c in WALL_CLOCK.get(name, ()) if c in table.column_names]
    table = table.drop_columns(drop)
    fields = []
    for f in table.schema:
        kind = _plain(f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
        if pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC")
        elif pa.types.is_date(kind) and f.name == PARTITION:
            kind = pa.string()
        fields.append(pa.field(f.name, kind, nullable=True))
    table = table.cast(pa.schema(fields)).replace_schema_metadata(None)
    if table.num_rows == 0:
        return table
    key = [c for c in ORDER.get(name, ()) if c in table.column_names]
    rest = [f.name for f in table.schema if f.name not in key and _sortable(f.type)]
    keys = [(c, "ascending", "at_end") for c in (*key, *rest)]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def _plain(kind: pa.DataType) -> pa.DataType:
    """Large and view strings and lists as plain ones: how a reader stores them is no data."""
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_list_view(kind):
        item = kind.value_field
        return pa.list_(pa.field(item.name, _plain(item.type), item.nullable))
    return kind


def _sortable(kind: pa.DataType) -> bool:
    return not (pa.types.is_nested(kind) or pa.types.is_dictionary(kind))


def write_table(table: pa.Table, folder: Path) -> list[Path]:
    """Write a canonical table as ``folder/date=.../part-0.parquet`` (one file if unpartitioned)."""
    folder.mkdir(parents=True, exist_ok=True)
    if table.num_rows == 0:
        return []
    if PARTITION not in table.column_names:
        path = folder / FILE_NAME
        pq.write_table(table, path, **WRITE_OPTIONS)
        return [path]
    written = []
    dates = table[PARTITION]
    for value in sorted(pc.unique(dates).to_pylist(), key=lambda d: (d is None, d)):
        rows = table.filter(pc.is_null(dates) if value is None else pc.equal(dates, value))
        path = folder / f"{PARTITION}={NULL_PARTITION if value is None else value}" / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows.drop_columns([PARTITION]), path, **WRITE_OPTIONS)
        written.append(path)
    return written


def export_tables(
    source: str | Path, dest: Path, names: Sequence[str] = tuple(OUTPUTS)
) -> dict[str, int]:
    """Rewrite ``dest`` with every table of the stream under ``source``, canonically.

    Args:
        source: the stream's output root (its own tables; working state).
        dest: the research export (a DVC output), replaced completely.
        names: the tables, by default every output of the stream.

    Returns:
        Rows exported per table.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    rows: dict[str, int] = {}
    for name in names:
        table = canonical(read_stream_table(source, name), name)
        files = write_table(table, dest / name)
        rows[name] = table.num_rows
        log.info("export %s: %d rows in %d files", name, table.num_rows, len(files))
    return rows
