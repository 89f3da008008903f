"""velib forecast train, predict, evaluate end to end on the real stream's tables.

The input is ``stream_slice``: eight real snapshots through the session's Kafka
broker, capture and Spark, exported as ``velib run`` exports them (Thursday 12
May evening, Saturday 14 May morning). The model is small (params of the
test), the rolling origin has one held-out day (14 May, learnt from 12 May).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from pipeline import cli
from pipeline.forecast import bundle, predict
from pipeline.research.tables import read_table

pytestmark = [pytest.mark.integration, pytest.mark.spark]

SMALL = ["--rolling-days=1", "--trees=5", "--train-rows=3000", "--threads=1"]


def forecast(*args: object) -> int:
    return cli.main(["forecast", *map(str, args)])


def forecast_outputs(processed, root) -> dict[str, object]:
    """Train, predict and evaluate into ``root`` (the notebooks' default layout, no recording)."""
    paths = {
        "model": root / "models" / "forecast.zip",
        "predictions": root / "data" / "forecast" / "predictions.parquet",
        "scored": root / "data" / "forecast" / "scored.parquet",
        "metrics": root / "reports" / "metrics" / "forecast.json",
        "details": root / "reports" / "metrics" / "forecast_details.csv",
        "serving": root / "models" / "forecast_serving.json",
    }
    assert forecast("train", "--processed", processed, "--model-out", paths["model"], *SMALL) == 0
    assert forecast("predict", "--processed", processed, "--model", paths["model"],
                    "--out", paths["predictions"]) == 0  # fmt: skip
    assert forecast("evaluate", "--processed", processed, "--predictions", paths["predictions"],
                    "--metrics", paths["metrics"], "--details", paths["details"],
                    "--scored", paths["scored"], "--serving", paths["serving"]) == 0  # fmt: skip
    return paths


@pytest.mark.timeout(1200)  # the session's broker and Spark start first, on 2 busy cores
def test_train_predict_evaluate_on_the_stream_export(stream_slice, tmp_path, capsys):
    processed = shutil.copytree(stream_slice, tmp_path / "processed")
    paths = forecast_outputs(processed, tmp_path)
    out = capsys.readouterr().out
    assert "forecast train: observations=" in out and "members=2" in out
    members, facts = bundle.load(paths["model"])
    assert facts["dates"] == ["2022-05-12", "2022-05-14"]
    assert members[0].cutoff == pd.Timestamp("2022-05-13T22:00:00Z")  # 14 May, Paris
    pred = pd.read_parquet(paths["predictions"])
    assert tuple(pred.columns) == predict.OUTPUT
    assert pred["issued_at"].min() >= members[0].cutoff  # only the held-out day
    assert (pred["last_observed_at"] < pred["issued_at"]).all()
    assert pred["station_code"].nunique() > 1000
    head = json.loads(paths["metrics"].read_text())
    assert {"served_h15", "served_h30", "served_h60"} <= set(head)
    assert "development_mae_ratio_vs_persistence_h60_hi" in head  # 14 May: a development day
    scored = pd.read_parquet(paths["scored"])
    assert set(scored["issue_day"]) == {"2022-05-14"}
    # every scored target is a real poll of the slice, within 7.5 min of target_at
    gap = (scored["target_obs_at"] - scored["target_at"]).abs()
    assert (gap <= pd.Timedelta(minutes=7.5)).all()
    snapshots = read_table(processed, "status", ["observed_at"])["observed_at"]
    assert set(scored["target_obs_at"]) <= set(snapshots)
