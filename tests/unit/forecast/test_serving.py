"""The fallback rule: a model that does not beat persistence at a horizon is not served there."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from pipeline.forecast import evaluate, serving
from pipeline.settings.declare import BadInput


def proof(ratio: float, lo: float, hi: float, n: int = 100) -> dict[str, float]:
    return {
        "development_targets": n,
        "mae_ratio_vs_persistence": ratio,
        "mae_ratio_vs_persistence_lo": lo,
        "mae_ratio_vs_persistence_hi": hi,
    }


def test_the_model_is_served_only_where_its_whole_interval_beats_persistence():
    got = serving.decide(
        {
            15: proof(1.004, 0.998, 1.010),  # loses (or ties): persistence
            30: proof(0.995, 0.990, 1.000),  # the interval reaches 1: not shown better
            60: proof(0.978, 0.970, 0.986),  # better: the model
            5: proof(float("nan"), float("nan"), float("nan"), n=0),  # no evidence: the model
        }
    )
    assert got == {5: "model", 15: "persistence", 30: "persistence", 60: "model"}


def test_persistence_replaces_the_point_forecasts_where_the_state_is_fresh(tmp_path, caplog):
    path = tmp_path / "serving.json"
    served = {15: "persistence", 60: "model"}
    serving.write(path, served, {15: proof(1.004, 0.998, 1.01), 60: proof(0.97, 0.96, 0.98)})
    assert json.loads(path.read_text())["horizons"]["15"]["served"] == "persistence"
    with caplog.at_level(logging.WARNING):
        rule = serving.load(path, pd.Timedelta(hours=2))
    assert rule.persistence_at == frozenset({15})
    assert "serving persistence at +15 min" in caplog.text
    feat = pd.DataFrame(
        {
            "horizon_min": [15, 15, 60],
            "last_bikes": [7.0, 3.0, 7.0],
            "last_docks": [13.0, 17.0, 13.0],
            "age_min": [20.0, 150.0, 20.0],  # the second state is older than 2 h: stale
        }
    )
    pred = pd.DataFrame(
        {
            "bikes_pred": [9.2, 4.0, 9.2],
            "bikes_p10": [8.0, 2.0, 8.0],
            "bikes_p90": [11.0, 6.0, 11.0],
            "docks_pred": [10.8, 16.0, 10.8],
            "p_empty": [0.01, 0.1, 0.01],
            "p_full": [0.02, 0.0, 0.02],
        }
    )
    got = serving.apply(pred, feat, rule)
    assert got["bikes_pred"].tolist() == [7.0, 4.0, 9.2]  # fresh +15: persistence; else model
    assert got["docks_pred"].tolist() == [13.0, 16.0, 10.8]
    assert got["bikes_p10"].tolist() == [7.0, 2.0, 8.0]  # widened to contain the point
    assert got["p_empty"].tolist() == pred["p_empty"].tolist()  # probabilities stay the model's
    assert serving.apply(pred, feat, serving.Serving()) is pred


def test_a_missing_or_foreign_decision_file_is_one_clear_error(tmp_path):
    with pytest.raises(BadInput, match="run velib forecast evaluate"):
        serving.load(tmp_path / "none.json", pd.Timedelta(hours=2))
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(BadInput, match="not a serving decision"):
        serving.load(tmp_path / "x.json", pd.Timedelta(hours=2))


def scored_rows(model_error: float, days: list[str]) -> pd.DataFrame:
    """Common targets: 40 stations a day, +15 min, the model off by ``model_error``."""
    rng = np.random.default_rng(0)
    n = 40 * len(days)
    y = rng.integers(0, 20, n).astype(float)
    pers_err = rng.choice([-2.0, 2.0], n)
    return pd.DataFrame(
        {
            "station_code": [f"S{i % 40}" for i in range(n)],
            "issue_day": np.repeat(days, 40),
            "horizon_min": 15,
            "bikes_target": y,
            "pers_bikes": y + pers_err,
            "bikes_pred": y + model_error * pers_err,
            "clim_bikes": y,
        }
    )


def test_the_decision_looks_at_development_days_only():
    dev = scored_rows(1.1, ["2024-11-04", "2024-11-05"])  # the model loses on development days
    final = scored_rows(0.5, ["2024-11-07"])  # and wins on the final test: not looked at
    t = pd.concat([dev, final], ignore_index=True)
    t["period"] = evaluate.periods(t["issue_day"], [(pd.Timestamp("2024-11-07").date(),) * 2])
    assert t["period"].value_counts().to_dict() == {"development": 80, "final_test": 40}
    proof_ = evaluate.evidence(t)
    assert proof_[15]["mae_ratio_vs_persistence"] == pytest.approx(1.1)
    assert proof_[15]["development_days"] == 2
    served = serving.decide(proof_)
    assert served == {15: "persistence"}
    evaluate.add_served(t, served)
    assert (t["served_bikes"] == t["pers_bikes"]).all()


def test_the_final_test_days_come_from_params_or_the_command_line(tmp_path):
    from datetime import date

    from pipeline.settings.forecast import EvaluateSettings

    (tmp_path / "status").mkdir()
    (tmp_path / "p.parquet").write_bytes(b"")
    where = {"processed": tmp_path, "predictions": tmp_path / "p.parquet"}
    built = EvaluateSettings.build(where, environ={})
    assert built.final_test == (
        (date(2022, 5, 24), date(2022, 5, 25)),
        (date(2024, 11, 7), date(2024, 11, 7)),
    )
    given = EvaluateSettings.build(
        {**where, "final_test": "2024-11-06..2024-11-07, 2022-05-25"}, environ={}
    )
    assert given.final_test == (
        (date(2024, 11, 6), date(2024, 11, 7)),
        (date(2022, 5, 25), date(2022, 5, 25)),
    )
    assert EvaluateSettings.build({**where, "final_test": ""}, environ={}).final_test == ()
