"""The live forecaster: each newly closed window once, restart-safe, idle without a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.forecast import live, predict
from pipeline.research.tables import read_table
from pipeline.settings.forecast import LiveForecastSettings


def close_window(processed: Path, end: str) -> pd.Timestamp:
    """The stream closed the window ending at ``end``: one network row of indicators_area."""
    at = pd.Timestamp(end, tz="UTC")
    row = pd.DataFrame({"window_start": [at - pd.Timedelta(minutes=15)], "window_end": [at],
                        "area_level": ["network"], "area": ["all"]})  # fmt: skip
    folder = processed / "indicators_area" / f"date={at:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(row, preserve_index=False), folder / f"{at:%H%M}.parquet")
    return at


def test_each_closed_window_is_forecast_once_even_across_restarts(two_days, tiny_model, tmp_path):
    processed = shutil.copytree(two_days, tmp_path / "processed")
    out = tmp_path / "forecasts"
    s = LiveForecastSettings.build(
        {"processed": processed, "model": tiny_model, "out": out, "once": True}
    )
    assert live.run(s).issued == 0  # no window closed yet: nothing to forecast
    first = close_window(processed, "2022-05-13T09:00:00")
    done = live.run(s)
    assert (done.issued, done.last) == (1, first)
    assert live.run(s).issued == 0  # a restart: the same window is not forecast again
    second = close_window(processed, "2022-05-13T09:15:00")
    assert live.run(s).last == second
    table = read_table(tmp_path, "forecasts")  # out is tmp_path/forecasts
    assert sorted(table["issued_at"].unique()) == [first, second]
    assert not table.duplicated(["station_code", "issued_at", "horizon_minutes"]).any()
    assert (table["last_observed_at"] < table["issued_at"]).all()
    assert set(predict.OUTPUT) <= set(table.columns)
    assert (out / "date=2022-05-13" / "issued-20220513T091500Z.parquet").is_file()


def test_without_a_model_it_says_so_once_and_stays_idle(two_days, tmp_path, caplog):
    s = LiveForecastSettings.build(
        {"processed": two_days, "model": tmp_path / "none.zip", "out": tmp_path / "f", "once": True}
    )
    caplog.set_level("WARNING")
    assert live.run(s).issued == 0
    assert [r.message for r in caplog.records if "no model" in r.message] == [
        f"no model at {tmp_path / 'none.zip'}: forecasts idle (run velib forecast train)"
    ]
    assert not (tmp_path / "f").exists()
