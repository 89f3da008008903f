"""The learned model: gradient boosting on the CHANGE of bikes since the last observation.

Five boosters serve every horizon (``horizon_min`` and ``lead_min`` are
features): a point forecast (L2 on the change), the 10 % and 90 % quantiles of
the change (an 80 % interval), and two classifiers, empty and full at the
target. Predicting the change rather than the level keeps persistence as the
model's starting point; the gain comes from what persistence cannot know:
the station's usual change between now and the target hour, recent trends,
neighbours, the area and the poll gaps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.forecast.climatology import Climatology
from pipeline.forecast.lgbm import lightgbm, params

log = logging.getLogger(__name__)

BOOSTERS: tuple[str, ...] = ("point", "q10", "q90", "empty", "full")
OBJECTIVES: dict[str, dict[str, Any]] = {
    "point": {"objective": "regression"},
    "q10": {"objective": "quantile", "alpha": 0.1},
    "q90": {"objective": "quantile", "alpha": 0.9},
    "empty": {"objective": "binary"},
    "full": {"objective": "binary"},
}
PREDICTIONS: tuple[str, ...] = (
    "bikes_pred",
    "bikes_p10",
    "bikes_p90",
    "docks_pred",
    "p_empty",
    "p_full",
)


@dataclass
class Member:
    """One fitted model, valid for issue times from ``cutoff`` on.

    ``cutoff`` is the instant before which every training target was observed
    (a Paris midnight); ``clim`` the climatology of the training days, which
    prediction uses for its climatology features.
    """

    cutoff: pd.Timestamp
    features: list[str]
    clim: Climatology
    boosters: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def fit(
    feat: pd.DataFrame,
    bikes: pd.Series,
    docks: pd.Series,
    features: list[str],
    *,
    rows: int,
    trees: int,
    threads: int,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the five boosters on rows with a last observation; return them and their facts.

    ``rows`` caps the training rows with a seeded random draw: the prototype
    lost under 0.3 % of MAE at 400 k rows against all 1.3 M, for a 2.5x speed-up.
    """
    ok = (feat["last_bikes"].notna() & bikes.notna()).to_numpy()
    index = np.flatnonzero(ok)
    if len(index) > rows:
        index = np.sort(np.random.default_rng(seed).choice(index, rows, replace=False))
    x = feat[features].iloc[index].to_numpy(dtype=np.float64)
    last = feat["last_bikes"].iloc[index].to_numpy(dtype=np.float64)
    b = bikes.iloc[index].to_numpy(dtype=np.float64)
    d = docks.iloc[index].to_numpy(dtype=np.float64)
    labels = {
        "point": b - last,
        "q10": b - last,
        "q90": b - last,
        "empty": (b == 0).astype(np.float64),
        "full": (d == 0).astype(np.float64),
    }
    base = params(threads, seed, trees)
    boosters, seconds = {}, {}
    for name in BOOSTERS:
        t0 = time.perf_counter()
        p = {**base, **OBJECTIVES[name]}
        data = lightgbm.Dataset(x, label=labels[name], feature_name=features, params=p)
        boosters[name] = lightgbm.train(p, data)
        seconds[name] = round(time.perf_counter() - t0, 1)
    log.info("fitted %d boosters on %d rows (seconds: %s)", len(boosters), len(index), seconds)
    return boosters, {"rows": int(len(index)), "rows_available": int(ok.sum())}


def predict(member: Member, feat: pd.DataFrame) -> pd.DataFrame:
    """:data:`PREDICTIONS` for feature rows (NaN where the station has no observation yet).

    Bikes are clipped to [0, bikes + docks at the last observation]; docks are
    the last docks minus the predicted change of bikes (bikes + docks hardly
    moves within an hour); the interval always contains the point forecast.
    """
    out = pd.DataFrame(np.nan, index=feat.index, columns=list(PREDICTIONS), dtype=float)
    ok = feat["last_bikes"].notna().to_numpy()
    if not ok.any():
        return out
    x = feat.loc[ok, member.features].to_numpy(dtype=np.float64)
    last = feat.loc[ok, "last_bikes"].to_numpy(dtype=np.float64)
    cap = np.maximum(feat.loc[ok, "cap_eff"].to_numpy(dtype=np.float64), last)
    b = member.boosters
    change = b["point"].predict(x)
    lo = np.minimum(b["q10"].predict(x), change)
    hi = np.maximum(b["q90"].predict(x), change)
    bikes = np.clip(last + change, 0, cap)
    out.loc[ok, "bikes_pred"] = bikes
    out.loc[ok, "bikes_p10"] = np.clip(last + lo, 0, cap)
    out.loc[ok, "bikes_p90"] = np.clip(last + hi, 0, cap)
    docks = feat.loc[ok, "last_docks"].to_numpy(dtype=np.float64) - (bikes - last)
    out.loc[ok, "docks_pred"] = np.clip(docks, 0, None)
    out.loc[ok, "p_empty"] = b["empty"].predict(x)
    out.loc[ok, "p_full"] = b["full"].predict(x)
    return out
