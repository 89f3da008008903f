"""Persistence and climatology on small hand-written cases."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.clock import paris_midnight
from pipeline.forecast import baselines, climatology, metrics, scoring


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def obs_frame(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_code": [r[0] for r in rows],
            "observed_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "bikes_available": [r[2] for r in rows],
            "docks_available": [r[3] for r in rows],
        }
    )


def test_persistence_is_the_last_observation_before_issue_and_none_across_a_stale_cut():
    obs = obs_frame([("A", "2022-05-16T08:00Z", 5, 10), ("A", "2022-05-16T11:00Z", 0, 15)])
    rows = pd.DataFrame(
        {
            "station_code": ["A"] * 5,
            "issued_at": [
                utc("2022-05-16T07:45"),
                utc("2022-05-16T09:00"),
                utc("2022-05-16T10:30"),
                utc("2022-05-16T11:00"),
                utc("2022-05-16T11:15"),
            ],  # fmt: skip
        }
    )
    got = baselines.persistence(scoring.last_state(obs, rows), pd.Timedelta(hours=2))
    assert got["bikes"].isna().tolist() == [True, False, True, True, False]
    assert got.loc[1, "bikes"] == 5 and got.loc[1, "p_empty"] == 0  # 60 min old: in force
    # 10:30 is 150 min after 08:00: beyond the 2 h limit, no forecast (a guess, not a state)
    # 11:00 itself is not seen at 11:00 (strictly before), so 08:00 again: 180 min, stale
    assert got.loc[4, "bikes"] == 0 and got.loc[4, "p_empty"] == 1 and got.loc[4, "docks"] == 15


def test_climatology_of_a_station_seen_on_weekdays_only():
    # Monday 16 May 2022, Paris 08:xx (06:xx UTC) and 18:xx (16:xx UTC); never on a weekend
    obs = obs_frame(
        [
            ("A", "2022-05-16T06:10Z", 4, 16),
            ("A", "2022-05-16T06:40Z", 6, 14),
            ("A", "2022-05-17T06:20Z", 8, 12),
            ("A", "2022-05-16T16:30Z", 20, 0),
        ]
    )
    obs["station_code"] = obs["station_code"].astype(str)
    parts = climatology.parts(obs)
    clim = climatology.fit(
        parts, [date(2022, 5, 16), date(2022, 5, 17)], paris_midnight(date(2022, 5, 18))
    )
    targets = pd.Series(
        [
            utc("2022-05-18T06:30"),
            utc("2022-05-21T06:30"),
            utc("2022-05-21T16:30"),
            utc("2022-05-21T11:00"),
        ]  # fmt: skip
    )
    got = baselines.climatology(clim, pd.Series(["A"] * 4), targets)
    assert got["bikes"].tolist() == pytest.approx([6.0, 6.0, 20.0, 9.5])
    # a Saturday at 08h: no Saturday cell, so the station's 08h mean over all day types;
    # 13h was never seen: the station's overall mean (4 + 6 + 8 + 20) / 4
    assert got["p_full"].tolist() == pytest.approx([0.0, 0.0, 1.0, 0.25])


def test_climatology_leaves_out_days_it_is_not_fitted_on():
    obs = obs_frame([("A", "2022-05-16T06:10Z", 4, 16), ("A", "2022-05-17T06:10Z", 10, 10)])
    parts = climatology.parts(obs)
    first_only = climatology.fit(parts, [date(2022, 5, 16)], paris_midnight(date(2022, 5, 17)))
    got = baselines.climatology(first_only, pd.Series(["A"]), pd.Series([utc("2022-05-18T06:10")]))
    assert got["bikes"].tolist() == [4.0]


def test_smoothed_persistence_by_hand_per_horizon_and_bikes_now():
    # bikes now (capped at 5+) and empty at the target, at +15 and +60 min:
    #   +15: 0 -> empty, 0 -> empty, 0 -> not, 1 -> not, 7 -> not, 5 -> not
    #   +60: 0 -> empty, 2 -> empty, 2 -> not, 2 -> not
    table = baselines.fit_smoothed_persistence(
        pd.Series([15, 15, 15, 15, 15, 15, 60, 60, 60, 60]),
        pd.Series([0, 0, 0, 1, 7, 5, 0, 2, 2, 2]),
        pd.Series([True, True, False, False, False, False, True, True, False, False]),
    )
    got = baselines.smoothed_persistence(
        table,
        pd.Series([15, 15, 15, 60, 60, 60, 30]),
        pd.Series([0, 1, 12, 2, 4, 0] + [0]),
    )
    # +15 | 0 bikes: 2 of 3; | 1: 0 of 1; | 12 is "5+": 0 of 2 (the 7 and the 5)
    # +60 | 2: 1 of 3; | 4 was never seen at +60: the horizon's overall rate 2 of 4
    assert got.tolist()[:6] == pytest.approx([2 / 3, 0.0, 0.0, 1 / 3, 0.5, 1.0])
    assert pd.isna(got.iloc[6])  # no row of that horizon: no probability


def test_brier_skill_against_smoothed_persistence_by_hand():
    # outcomes empty/not; smoothed persistence says 0.5 everywhere, the model 0.9/0.1
    y = pd.Series([1.0, 0.0, 1.0, 0.0])
    smoothed, model = pd.Series([0.5] * 4), pd.Series([0.9, 0.1, 0.6, 0.4])
    b_s, b_m = metrics.brier(y, smoothed), metrics.brier(y, model)
    assert b_s == pytest.approx(0.25)
    assert b_m == pytest.approx((0.01 + 0.01 + 0.16 + 0.16) / 4)  # 0.085
    assert metrics.skill(b_m, b_s) == pytest.approx(1 - 0.085 / 0.25)  # 0.66


def test_persistence_plus_the_profiles_change_is_clipped_to_the_station():
    got = baselines.persistence_plus_change(
        last=pd.Series([5.0, 1.0, 18.0, 4.0]),
        cap=pd.Series([20.0, 20.0, 20.0, 20.0]),
        clim_target=pd.Series([9.5, 2.0, 19.0, None]),
        clim_last=pd.Series([7.0, 6.0, 15.0, 3.0]),
    )
    # +2.5; 1 - 4 clipped at 0; 18 + 4 clipped at the 20 places; no profile: no change
    assert got.tolist() == pytest.approx([7.5, 0.0, 20.0, 4.0])


def test_change_quantiles_per_horizon_and_hour_fall_back_to_the_horizons_own():
    n = baselines.MIN_CELL
    # +15 at 08h: n changes 0..n-1 (a full cell); at 09h only 3 rows (too few)
    horizon = pd.Series([15] * (n + 3))
    hour = pd.Series([8] * n + [9] * 3)
    change = pd.Series([float(i) for i in range(n)] + [100.0, 100.0, 100.0])
    table = baselines.fit_change_quantiles(horizon, hour, change)
    assert list(table.columns) == ["q10", "q50", "q90"]
    assert (15, 9) not in table.index
    assert table.loc[(15, 8), "q50"] == pytest.approx((n - 1) / 2)
    got = baselines.change_quantiles(
        table, pd.Series([15, 15]), pd.Series([8, 9]), pd.Series([10.0, 10.0]),
        pd.Series([400.0, 400.0]),
    )  # fmt: skip
    overall = pd.Series(change).quantile([0.1, 0.5, 0.9]).to_numpy()
    assert got.loc[0, "q50"] == pytest.approx(10 + (n - 1) / 2)
    assert got.loc[1].tolist() == pytest.approx((10 + overall).tolist())
