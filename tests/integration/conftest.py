"""One real stream run shared by the notebook and DVC tests.

The notebooks read what the stream computed (``indicators_station/``,
``indicators_area/``, ``alerts/``), so their fixture is the real chain —
replay ingest into the session's Kafka broker, capture, Spark — run once per
test session on eight recorded snapshots of the bundled sample: five on
Thursday 12 May 2022 evening and three on Saturday 14 May morning. Friday is
not in it, so every figure meets a day-long gap, as on the full sample.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "data" / "raw" / "opendata-history"
SLICE = (
    "velib-opendata-2022-05-12T171348Z.csv.gz",
    "velib-opendata-2022-05-12T172037Z.csv.gz",
    "velib-opendata-2022-05-12T174444Z.csv.gz",
    "velib-opendata-2022-05-12T184647Z.csv.gz",
    "velib-opendata-2022-05-12T193236Z.csv.gz",
    "velib-opendata-2022-05-14T084205Z.csv.gz",
    "velib-opendata-2022-05-14T093737Z.csv.gz",
    "velib-opendata-2022-05-14T104125Z.csv.gz",
)


@pytest.fixture(scope="session")
def stream_slice(kafka_bootstrap, spark, tmp_path_factory) -> Path:  # noqa: ARG001 - one session
    """``data/processed`` of one real ``velib run`` on the slice (read-only: copy it to write)."""
    from pipeline.run import run
    from pipeline.settings.run import RunSettings

    root = tmp_path_factory.mktemp("stream-slice")
    raw = root / "raw"
    raw.mkdir()
    for name in SLICE:
        shutil.copy(HISTORY / name, raw / name)
    topic = f"slice-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VELIB_TOPIC_STATUS", topic)
        env.setenv("VELIB_TOPIC_ALERTS", f"{topic}-alerts")
        env.setenv("VELIB_TOPIC_DEAD_LETTER", f"{topic}-dlq")
        env.setenv("VELIB_TOPIC_POLLS", f"{topic}-polls")
        settings = RunSettings.build(
            {
                "raw": [raw],
                "csv_out": root / "csv",
                "out": root / "processed",
                "work_dir": root / "run",
                "bootstrap_servers": kafka_bootstrap,
            }
        )
        summary = run(settings.replace(metrics=None, idle_s=3))
    rows = summary.stream["rows"]
    assert rows["indicators_area"] > 0 and rows["alerts"] > 0, summary.lines()
    return root / "processed"
