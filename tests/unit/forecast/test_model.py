"""The boosters on a synthetic table whose answer is known: what they learn, clip and repeat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.forecast import model

FEATURES = ["last_bikes", "hour_target", "horizon_min"]


def table(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Stations of 20 docks whose bikes rise by 3 in the morning and fall by 3 at night."""
    rng = np.random.default_rng(seed)
    last = rng.integers(3, 17, n).astype(float)
    hour = rng.choice([8.0, 20.0], n)
    feat = pd.DataFrame(
        {
            "last_bikes": last,
            "last_docks": 20 - last,
            "cap_eff": np.full(n, 20.0),
            "hour_target": hour,
            "horizon_min": rng.choice([15.0, 30.0, 60.0], n),
        }
    )
    bikes = pd.Series(last + np.where(hour < 12, 3, -3) + rng.integers(-1, 2, n))
    return feat, bikes, 20 - bikes


def member(feat: pd.DataFrame, bikes: pd.Series, docks: pd.Series, seed: int = 0):
    boosters, facts = model.fit(
        feat, bikes, docks, FEATURES, rows=len(feat), trees=150, threads=1, seed=seed
    )
    return model.Member(pd.Timestamp("2022-05-19T22:00Z"), FEATURES, None, boosters, facts)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted():
    feat, bikes, docks = table(3000, seed=1)
    return member(feat, bikes, docks)


def test_it_learns_the_change_since_the_last_observation(fitted):
    feat, bikes, _ = table(500, seed=2)
    got = model.predict(fitted, feat)
    assert (got["bikes_pred"] - bikes).abs().mean() < 1.0  # the noise is +-1
    morning = feat["hour_target"] < 12
    assert (got["bikes_pred"] - feat["last_bikes"])[morning].mean() == pytest.approx(3, abs=0.3)
    assert (got["bikes_pred"] - feat["last_bikes"])[~morning].mean() == pytest.approx(-3, abs=0.3)
    # docks are the last docks minus the predicted change of bikes
    change = got["bikes_pred"] - feat["last_bikes"]
    assert np.allclose(got["docks_pred"], (feat["last_docks"] - change).clip(lower=0))


def test_the_interval_holds_the_point_and_everything_stays_within_the_station(fitted):
    feat, _, _ = table(500, seed=3)
    feat.loc[:9, ["last_bikes", "last_docks"]] = [[19.0, 1.0]] * 10  # mornings would overflow
    feat.loc[:9, "hour_target"] = 8.0
    got = model.predict(fitted, feat)
    assert (got["bikes_p10"] <= got["bikes_pred"]).all()
    assert (got["bikes_pred"] <= got["bikes_p90"]).all()
    assert got[["bikes_pred", "bikes_p10", "bikes_p90"]].max().max() <= 20.0
    assert got[["bikes_pred", "bikes_p10", "bikes_p90", "docks_pred"]].min().min() >= 0.0
    assert got[["p_empty", "p_full"]].stack().between(0, 1).all()


def test_a_station_without_an_observation_gets_no_forecast(fitted):
    feat, _, _ = table(3, seed=4)
    feat.loc[1, "last_bikes"] = np.nan
    got = model.predict(fitted, feat)
    assert got.loc[1].isna().all() and got.loc[[0, 2], "bikes_pred"].notna().all()


def test_the_same_rows_and_seed_give_the_same_model():
    feat, bikes, docks = table(2000, seed=5)
    a, b = member(feat, bikes, docks), member(feat, bikes, docks)
    for name in model.BOOSTERS:
        assert a.boosters[name].model_to_string() == b.boosters[name].model_to_string()
    probe, _, _ = table(200, seed=6)
    pd.testing.assert_frame_equal(model.predict(a, probe), model.predict(b, probe))
