"""A group's scores: ratios of sums on the same rows, named intervals, effective-lead bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.forecast import evaluate, skills


def group(n_days: int = 2, stations: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = n_days * stations * 4
    y = rng.integers(0, 15, n).astype(float)
    pers = np.clip(y + rng.choice([-3.0, 0.0, 3.0], n), 0, None)
    g = pd.DataFrame(
        {
            "station_code": [f"S{(i // 4) % stations}" for i in range(n)],
            "issue_day": [f"2024-11-0{4 + i // (stations * 4)}" for i in range(n)],
            "bikes_target": y,
            "docks_target": 20 - y,
            "bikes_pred": (y + pers) / 2,
            "pers_bikes": pers,
            "pers_docks": 20 - pers,
            "docks_pred": 20 - (y + pers) / 2,
            "clim_bikes": np.full(n, 7.0),
            "pers_clim_bikes": pers,
            "bikes_p10": y - 1,
            "bikes_p90": y + 1,
            "base_q10": pers - 3,
            "base_q50": pers,
            "base_q90": pers + 3,
        }
    )
    g["served_bikes"] = g["pers_bikes"]
    g["empty"] = (g["bikes_target"] == 0).astype(float)
    g["full"] = (g["docks_target"] == 0).astype(float)
    for e in ("empty", "full"):
        g[f"p_{e}"] = np.clip(g[e] * 0.8 + 0.1, 0, 1)
        g[f"pers_p_{e}"] = g[e].sample(frac=1, random_state=1).to_numpy()
        g[f"spers_p_{e}"] = float(g[e].mean())
        g[f"clim_p_{e}"] = float(g[e].mean())
    return g


def test_the_mae_ratio_is_the_ratio_of_the_two_maes_with_its_interval_around_it():
    g = group()
    out = skills.scores(g)
    assert out["mae_ratio_vs_persistence"] == pytest.approx(
        out["mae_model"] / out["mae_persistence"]
    )
    assert out["mae_ratio_vs_persistence"] == pytest.approx(0.5)  # halfway between y and pers
    assert out["mae_ratio_vs_persistence_lo"] <= 0.5 <= out["mae_ratio_vs_persistence_hi"]
    assert out["mae_ratio_served_vs_persistence"] == pytest.approx(1.0)  # served = persistence
    assert out["interval_coverage"] == 1.0 and out["blocks"] == 60
    # pinball: the model's quantiles sit 1 bike from y, its median halfway to persistence
    assert out["pinball_ratio_vs_change_quantiles"] < 1
    assert out["bss_empty_vs_smoothed"] > 0
    assert out["bss_empty_vs_smoothed_lo"] <= out["bss_empty_vs_smoothed"]


def test_effective_lead_bins_close_on_the_left():
    got = skills.lead_bins(pd.Series([0.0, 9.9, 10.0, 61.0, 500.0, np.nan]), evaluate.LEAD_EDGES)
    assert got.tolist()[:5] == ["0-10", "0-10", "10-20", "60-90", "120+"]
    assert pd.isna(got.iloc[5])
