"""velib forecast train | predict | evaluate on a real slice: the interface, bytes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline import cli
from pipeline.forecast import bundle, evaluate, predict

INTERFACE = [
    "station_code",
    "issued_at",
    "horizon_minutes",
    "target_at",
    "last_observed_at",
    "bikes_pred",
    "bikes_p10",
    "bikes_p90",
    "docks_pred",
    "p_empty",
    "p_full",
]


def velib(*args: str) -> int:
    return cli.main(["forecast", *map(str, args)])


def test_help_shows_the_interface(capsys):
    with pytest.raises(SystemExit):
        velib("--help")
    text = capsys.readouterr().out
    assert all(verb in text for verb in ("train", "predict", "evaluate", "live"))
    with pytest.raises(SystemExit):
        velib("predict", "--help")
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--processed", "--model", "--out", "--every"):
        assert option in text
    assert "default: 15 minutes" in text


def test_a_bad_option_is_one_line_and_exit_2(tmp_path, capsys):
    assert velib("train", "--processed", tmp_path, "--trees", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trees" in err[0] or "status/" in err[0]
    assert velib("predict", "--processed", tmp_path, "--model", tmp_path / "none.zip") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("velib forecast:"), err


@pytest.mark.slow  # trains, forecasts and scores the two real days twice
def test_train_predict_evaluate_end_to_end(two_days, tiny_model, tiny, tmp_path, capsys):
    model = tmp_path / "m.zip"
    opts = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    assert velib("train", "--processed", two_days, "--model-out", model, *opts) == 0
    assert model.read_bytes() == tiny_model.read_bytes()  # seeded, deterministic: same bytes
    members, facts = bundle.load(model)
    assert [m.cutoff.isoformat() for m in members] == [
        "2022-05-12T22:00:00+00:00",  # 13 May, Paris: trained on 12 May only
        "2022-05-13T22:00:00+00:00",  # after the last day: trained on both, for live use
    ]
    assert facts["dates"] == ["2022-05-12", "2022-05-13"]
    out = tmp_path / "pred.parquet"
    assert velib("predict", "--processed", two_days, "--model", model, "--out", out) == 0
    pred = pd.read_parquet(out)
    assert list(pred.columns) == INTERFACE
    assert set(pred["horizon_minutes"]) == {15, 30, 60}
    issued = pred["issued_at"]
    assert issued.min() == members[0].cutoff  # nothing before the first member's cut-off
    assert (pred["last_observed_at"] < issued).all()
    assert (pred["target_at"] - issued).dt.total_seconds().div(60).eq(pred["horizon_minutes"]).all()
    assert (pred["bikes_p10"] <= pred["bikes_pred"]).all()
    assert (pred["bikes_pred"] <= pred["bikes_p90"]).all()
    assert pred["p_empty"].between(0, 1).all() and pred["p_full"].between(0, 1).all()
    assert not pred.duplicated(["station_code", "issued_at", "horizon_minutes"]).any()
    again = tmp_path / "again.parquet"
    assert velib("predict", "--processed", two_days, "--model", model, "--out", again) == 0
    assert again.read_bytes() == out.read_bytes()
    metrics = tmp_path / "forecast.json"
    details = tmp_path / "details.csv"
    scored = tmp_path / "scored.parquet"
    decision = tmp_path / "serving.json"
    args = ["--predictions", out, "--metrics", metrics, "--details", details, "--scored", scored,
            "--serving", decision]  # fmt: skip
    assert velib("evaluate", "--processed", two_days, *args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-6].startswith("forecast evaluate: ") and "development days" in lines[-6]
    assert [line.split()[:2] for line in lines[-4:-1]] == [["+15", "min"], ["+30", "min"],
                                                           ["+60", "min"]]  # fmt: skip
    assert lines[-1].startswith("  metrics in ")
    head = json.loads(metrics.read_text())
    # 13 May is a development day (params.yaml's final test is 24-25 May): no final-test block
    assert not any(k.startswith("final_test") for k in head), head
    assert all(isinstance(v, str | int | float) for v in head.values())  # flat: one key a line
    for h in (15, 30, 60):
        key = f"development_mae_ratio_vs_persistence_h{h}"
        lo, mid, hi = (head[f"{key}{end}"] for end in ("_lo", "", "_hi"))
        assert lo <= mid <= hi
        assert head[f"served_h{h}"] == ("persistence" if hi >= 1 else "model")
        assert head[f"development_mae_ratio_served_vs_persistence_h{h}"] <= max(mid, 1.0)
    assert json.loads(decision.read_text())["horizons"]["15"]["served"] == head["served_h15"]
    assert evaluate.resolution(pd.read_parquet(scored))["same_obs_h15_h30"] > 0.9  # hourly polls
    table = pd.read_csv(details)
    assert set(table["by"]) == {"all", "period", "hour", "arrondissement", "issue_day", "lead"}
    assert set(table.loc[table["by"] == "issue_day", "group"]) == {"2022-05-13"}
    assert set(table.loc[table["by"] == "period", "group"]) == {"development"}
    assert predict.OUTPUT == tuple(INTERFACE)


def test_predict_skips_issue_times_before_the_model(two_days, tiny_model, tmp_path: Path):
    members, _ = bundle.load(tiny_model)
    assert bundle.member_for(members, members[0].cutoff - pd.Timedelta(seconds=1)) is None
    assert bundle.member_for(members, members[0].cutoff) is members[0]
    assert bundle.member_for(members, members[1].cutoff + pd.Timedelta(days=30)) is members[1]


@pytest.mark.slow  # forecasts the real day twice
def test_predict_serves_persistence_where_the_decision_says(two_days, tiny_model, tmp_path, capsys):
    out = tmp_path / "pred.parquet"
    assert velib("predict", "--processed", two_days, "--model", tiny_model, "--out", out) == 0
    pred = pd.read_parquet(out)
    (tmp_path / "p15.json").write_text(
        json.dumps({"horizons": {"15": {"served": "persistence"}, "60": {"served": "model"}}})
    )
    served = tmp_path / "served.parquet"
    assert velib("predict", "--processed", two_days, "--model", tiny_model, "--out", served,
                 "--serving", tmp_path / "p15.json") == 0  # fmt: skip
    assert "persistence_served_at=+15min" in capsys.readouterr().out
    fell = pd.read_parquet(served)
    h15, h60 = fell["horizon_minutes"] == 15, fell["horizon_minutes"] == 60
    fresh = fell["issued_at"] - fell["last_observed_at"] <= pd.Timedelta(hours=2)
    assert (fell.loc[h15 & fresh, "bikes_pred"] % 1 == 0).all()  # a count observed, not a model's
    assert (fell["bikes_p10"] <= fell["bikes_pred"]).all()
    assert (fell["bikes_pred"] <= fell["bikes_p90"]).all()
    assert (pred.loc[h15, "bikes_pred"] % 1 != 0).any()
    pd.testing.assert_frame_equal(fell[h60], pred[h60])
