"""Scores of forecasts against observed targets: errors, skill, Brier, alarms, coverage, pinball.

Every function takes aligned Series and ignores rows where either side is
missing, so callers pass the same (common) targets to every model they
compare. MAE alone hides what riders care about, empty and full stations,
hence the Brier score, a reliability table and precision/recall of the
"empty at target" alarm; coverage alone says nothing of an interval's
width, hence the pinball loss of each quantile (:func:`pinball`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def errors(y: pd.Series, pred: pd.Series) -> dict[str, float]:
    """n, MAE and RMSE (in bikes) over the rows where both are known."""
    ok = y.notna() & pred.notna()
    e = (pred[ok].astype(float) - y[ok].astype(float)).to_numpy()
    if not len(e):
        return {"n": 0, "mae": float("nan"), "rmse": float("nan")}
    return {"n": int(len(e)), "mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e**2).mean()))}


def brier(y: pd.Series, p: pd.Series) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    ok = y.notna() & p.notna()
    if not ok.any():
        return float("nan")
    return float(((p[ok].astype(float) - y[ok].astype(float)) ** 2).mean())


def skill(score: float, baseline: float) -> float:
    """1 - score / baseline: > 0 when the forecast beats the baseline (MAE or Brier)."""
    return 1.0 - score / baseline if baseline and baseline == baseline else float("nan")


def alarm(y: pd.Series, p: pd.Series, threshold: float = 0.5) -> dict[str, float]:
    """Precision and recall of the alarm ``p >= threshold`` for the event ``y``."""
    ok = y.notna() & p.notna()
    raised, event = (p[ok] >= threshold), y[ok].astype(bool)
    hits = float((raised & event).sum())
    return {
        "precision": hits / float(raised.sum()) if raised.any() else float("nan"),
        "recall": hits / float(event.sum()) if event.any() else float("nan"),
    }


def coverage(y: pd.Series, lo: pd.Series, hi: pd.Series) -> dict[str, float]:
    """Share of ``y`` inside [lo, hi] (inclusive), below, above, and the mean width."""
    ok = y.notna() & lo.notna() & hi.notna()
    y, lo, hi = y[ok].astype(float), lo[ok].astype(float), hi[ok].astype(float)
    if not len(y):
        return {"coverage": float("nan"), "below": float("nan"), "above": float("nan"),
                "width": float("nan")}  # fmt: skip
    return {
        "coverage": float(((y >= lo) & (y <= hi)).mean()),
        "below": float((y < lo).mean()),
        "above": float((y > hi).mean()),
        "width": float((hi - lo).mean()),
    }


def reliability(y: pd.Series, p: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Per probability bin: n, mean forecast probability, observed frequency."""
    ok = y.notna() & p.notna()
    prob = p[ok].to_numpy(float)
    b = np.minimum((prob * bins).astype(int), bins - 1)
    d = pd.DataFrame({"bin": b, "p": prob, "y": y[ok].to_numpy(float)})
    out = d.groupby("bin").agg(n=("y", "size"), p_mean=("p", "mean"), y_mean=("y", "mean"))
    out.index = pd.Index([f"{i / bins:.1f}-{(i + 1) / bins:.1f}" for i in out.index], name="bin")
    return out


def pinball(y: pd.Series, q: pd.Series, tau: float) -> pd.Series:
    """The pinball (quantile) loss of the ``tau`` quantile forecast ``q``, row by row.

    ``tau * (y - q)`` when the outcome is above the quantile, ``(1 - tau) * (q - y)``
    below: its mean is smallest for the true ``tau`` quantile, so it scores a
    quantile forecast as MAE scores a median (at ``tau`` 0.5 it is half the
    absolute error). NaN where either side is missing.
    """
    d = y.astype(float) - q.astype(float)
    return np.maximum(tau * d, (tau - 1.0) * d)
