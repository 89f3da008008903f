"""Real slices of the open-data history as the stream's tables, without Kafka or Spark.

``status/`` holds what ingest would emit (a station's record when its state
changed, or after a heartbeat), ``polls/`` one row per snapshot with the
stations it listed: the two tables the forecast reads. The integration tests
run the same code on the real stream's export.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.record import STATE_FIELDS
from pipeline.research.tables import status_frame, write_status_parquet
from pipeline.sources.recorded import read_recorded

ROOT = Path(__file__).resolve().parents[3]
HISTORY = ROOT / "data" / "raw" / "opendata-2022-05"


def processed_from_recording(files: list[Path], dest: Path, heartbeat_s: float = 3600) -> Path:
    """Write ``dest/status`` (change log with heartbeats) and ``dest/polls`` from raw files."""
    emitted, polls, last = [], [], {}
    for path in sorted(files):
        for snap in read_recorded(path):
            codes = []
            for r in snap.records:
                codes.append(r.station_code)
                state = tuple(getattr(r, f) for f in STATE_FIELDS)
                prev = last.get(r.station_code)
                if (
                    prev is None
                    or prev[0] != state
                    or (r.observed_at - prev[1] >= timedelta(seconds=heartbeat_s))
                ):
                    emitted.append(r)
                    last[r.station_code] = (state, r.observed_at)
            polls.append(
                {
                    "source": snap.records[0].source if snap.records else "replay",
                    "observed_at": snap.observed_at,
                    "ok": bool(snap.records),
                    "listed": sorted(set(codes)),
                }  # fmt: skip
            )
    write_status_parquet(status_frame(emitted), dest)
    frame = pd.DataFrame(polls)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    frame["date"] = frame["observed_at"].dt.strftime("%Y-%m-%d")
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), dest / "polls",
                        partition_cols=["date"])  # fmt: skip
    return dest


def history_files(first: str, last: str) -> list[Path]:
    """The history's files whose UTC stamp is in [first, last] (ISO prefixes)."""
    out = []
    for p in sorted(HISTORY.glob("velib-opendata-*.csv.gz")):
        stamp = p.name.removeprefix("velib-opendata-")[:17]
        if first <= stamp <= last:
            out.append(p)
    return out


@pytest.fixture(scope="session")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real history from 12 May noon to 13 May noon (Paris) as processed tables."""
    files = history_files("2022-05-12T100000", "2022-05-13T095959")
    return processed_from_recording(files, tmp_path_factory.mktemp("forecast") / "processed")


TINY = {"rolling_days": 1, "trees": 5, "train_rows": 3000, "threads": 1}


@pytest.fixture(scope="session")
def tiny() -> dict[str, int]:
    """The small model's settings (a member per last day, 5 trees, 3000 rows, 1 thread)."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_model(two_days: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model of the two days: a member from 13 May (trained on 12 May) and a final one."""
    from pipeline.forecast import train
    from pipeline.settings.forecast import TrainSettings

    path = tmp_path_factory.mktemp("model") / "forecast.zip"
    train.run(TrainSettings.build({"processed": two_days, "model_out": path, **TINY}))
    return path
