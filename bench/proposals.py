"""Proposed fixes for the stage modules, measured before/after without editing them.

The stage modules belong to their owners; the bench only proposes. Each fix
here is a drop-in replacement, patched in for the "after" runs, checked to give
byte-identical output on real records first. Run
``python -m bench.proposals [--records N]``: it prints, for ingest and
capture, the ratio to the raw-client ceiling before and after (median of 3
interleaved rounds on one broker).
"""

from __future__ import annotations

import argparse
import json
import operator
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import pipeline.capture as capture_module
import pipeline.ingest as ingest_module
from bench import kafka_stages as ks
from bench import workload
from pipeline import record as rec
from pipeline.capture_files import date_folder, parse_message
from pipeline.ingest import emitted_records

# --- ingest: record.to_json and StationRecord.state ---------------------------------

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per call
_VALUES = operator.attrgetter(*rec.FIELD_NAMES)  # one C call instead of 19 getattr
_TIMESTAMPS = tuple(i for i, f in enumerate(rec.FIELDS) if f.kind == "timestamp")


def to_json_fast(record: rec.StationRecord) -> bytes:
    """Proposed ``record.to_json``: same bytes, no per-field Python dispatch."""
    values = list(_VALUES(record))
    for i in _TIMESTAMPS:
        if values[i] is not None:
            values[i] = rec.format_timestamp(values[i])
    return _ENCODER.encode(dict(zip(rec.FIELD_NAMES, values, strict=True))).encode()


STATE_FAST = property(operator.attrgetter(*rec.STATE_FIELDS))  # proposed StationRecord.state


# --- capture: CSV cells straight from the JSON dict -------------------------------------


@lru_cache(maxsize=16384)
def _timestamp_cell(text: str) -> str:
    return rec.format_timestamp(rec.parse_timestamp(text))


_SPEC = tuple((f.name, f.kind, f.nullable) for f in rec.FIELDS)


class Parsed:
    """What the proposed capture parse returns: the record's CSV cells and its date folder."""

    __slots__ = ("cells", "folder")

    def __init__(self, cells: list[str], folder: str) -> None:
        self.cells, self.folder = cells, folder


def parse_message_fast(value: bytes | None) -> Parsed:
    """Proposed ``capture_files.parse_message`` + ``to_csv_row`` in one pass.

    Well-typed values (what ingest writes) become cells directly; anything
    else takes the existing path, so rejections and their reasons are unchanged.
    """
    if value is None:
        raise ValueError("empty message (tombstone)")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"JSON {type(data).__name__}, not an object")
    cells: list[str] = []
    get = data.get
    for name, kind, nullable in _SPEC:
        v = get(name)
        t = type(v)
        if v is None and nullable:
            cells.append("")
        elif kind == "str" and t is str and v:
            cells.append(v)
        elif kind in ("int", "long") and t is int:
            cells.append(str(v))
        elif kind == "float" and t is float:
            cells.append(repr(v))
        elif kind == "bool" and t is bool:
            cells.append("true" if v else "false")
        elif kind == "timestamp" and t is str:
            cells.append(_timestamp_cell(v))
        else:
            record = parse_message(value)  # the existing checks and messages
            return Parsed(rec.to_csv_row(record), date_folder(record))
    return Parsed(cells, "date=" + cells[_OBSERVED][:10])


_OBSERVED = rec.FIELD_NAMES.index("observed_at")


# --- patching -----------------------------------------------------------------------


@contextmanager
def patched(target: Any, **attrs: Any):  # noqa: ANN201 - a context manager
    """Set attributes for the block, restore them after."""
    saved = {name: getattr(target, name) for name in attrs}
    for name, value in attrs.items():
        setattr(target, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(target, name, value)


@contextmanager
def ingest_after():  # noqa: ANN201
    """Ingest with the proposed to_json and state."""
    with patched(ingest_module, to_json=to_json_fast), patched(rec.StationRecord, state=STATE_FAST):
        yield


@contextmanager
def capture_after():  # noqa: ANN201
    """Capture with the proposed one-pass parse and render."""
    with patched(
        capture_module,
        parse_message=parse_message_fast,
        date_folder=lambda p: p.folder,
        render_row=lambda p, topic, part, offset: [*p.cells, topic, str(part), str(offset)],
    ):
        yield


# --- before/after ---------------------------------------------------------------------


def check_identical(snaps: list[Any]) -> int:
    """Assert the proposals give the same bytes/cells as the current code; records checked."""
    records = [r for s in snaps for r in s.records]
    for r in records:
        assert to_json_fast(r) == rec.to_json(r)
        assert STATE_FAST.fget(r) == r.state
        parsed = parse_message_fast(rec.to_json(r))
        assert parsed.cells == rec.to_csv_row(r) and parsed.folder == date_folder(r)
    return len(records)


def _rounds(contenders: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            started = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def _ratios(seconds: dict[str, list[float]], ceiling: str) -> dict[str, float]:
    return {
        name: round(
            statistics.median(c / s for c, s in zip(seconds[ceiling], runs, strict=True)), 3
        )
        for name, runs in seconds.items()
        if name != ceiling
    }


def main() -> None:
    from pipeline.broker import LocalBroker

    p = argparse.ArgumentParser(prog="python -m bench.proposals")
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    base, _ = workload.load_history()
    snaps = workload.materialize(base, args.records)
    print(f"identical output on {check_identical(snaps[:10]):,} records")
    messages = workload.messages(emitted_records([r for s in snaps for r in s.records]))

    def topic() -> str:
        return f"bench.proposals.{uuid.uuid4().hex[:8]}"

    def ingest_after_run() -> None:
        with ingest_after():
            ks.run_ingest(snaps, bootstrap, topic())

    with LocalBroker() as broker:
        bootstrap = broker.bootstrap
        ingest = _rounds(
            {
                "ceiling": lambda: ks.run_kafka_python_producer(messages, bootstrap, topic()),
                "before": lambda: ks.run_ingest(snaps, bootstrap, topic()),
                "after": ingest_after_run,
            },
            args.runs,
        )
        print("ingest ratio to kafka-python producer:", _ratios(ingest, "ceiling"))
        source = topic()
        ks.run_kafka_python_producer(messages, bootstrap, source)
        n = len(messages)

        def capture_after_run() -> None:
            with capture_after():
                ks.run_capture(bootstrap, source, n, topic())

        capture = _rounds(
            {
                "ceiling": lambda: ks.run_raw_consumer(bootstrap, source, n, topic()),
                "before": lambda: ks.run_capture(bootstrap, source, n, topic()),
                "after": capture_after_run,
            },
            args.runs,
        )
        print("capture ratio to kafka-python consumer:", _ratios(capture, "ceiling"))


if __name__ == "__main__":
    main()
