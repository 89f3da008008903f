"""Every score of one group of scored targets, each skill with its block-bootstrap interval.

A group is a set of *common* targets (persistence fresh, climatology and the
model defined: :func:`common`), e.g. one horizon of the development days, or
one Paris hour of it. Its scores are computed from per-row losses
(:func:`losses`) so that a skill is a ratio of two sums on the same rows and
its interval comes from :mod:`pipeline.forecast.bootstrap`, resampling whole
(issue day, station) blocks. Names say the baseline and the unit: ``mae_*`` in
bikes, ``mae_ratio_vs_*`` the model's MAE over the baseline's (below 1: the
model is better), ``bss_*`` a Brier skill (above 0: better), each skill with
``*_lo`` and ``*_hi``, its 95 % interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.forecast import bootstrap, metrics
from pipeline.forecast.baselines import QUANTILES

EVENTS = ("empty", "full")
# point forecasts of bikes: (name, column of the scored table)
POINT = {
    "model": "bikes_pred",
    "persistence": "pers_bikes",
    "climatology": "clim_bikes",
    "persistence_plus_change": "pers_clim_bikes",
    "served": "served_bikes",
}
# probability forecasts of an event: (name, column pattern)
PROBABILITY = {
    "model": "p_{e}",
    "persistence": "pers_p_{e}",
    "smoothed": "spers_p_{e}",
    "climatology": "clim_p_{e}",
}
# the model's quantiles (its point forecast stands for the median) and the baseline's
MODEL_QUANTILES = {0.1: "bikes_p10", 0.5: "bikes_pred", 0.9: "bikes_p90"}
BASE_QUANTILES = {q: f"base_q{round(q * 100):02d}" for q in QUANTILES}


def common(t: pd.DataFrame) -> pd.DataFrame:
    """The targets every model forecast: persistence fresh, climatology and model defined."""
    return t[t["pers_bikes"].notna() & t["clim_bikes"].notna() & t["bikes_pred"].notna()]


def losses(c: pd.DataFrame) -> pd.DataFrame:
    """Per-row losses of every forecast: absolute errors, squared errors, pinball, hits.

    NaN where a forecast is missing, so a pair of forecasts is compared on the
    rows where both exist.
    """
    y = c["bikes_target"].astype(float)
    out = pd.DataFrame(index=c.index)
    for name, col in POINT.items():
        if col in c:
            out[f"ae_{name}"] = (c[col].astype(float) - y).abs()
    for e in EVENTS:
        for name, pattern in PROBABILITY.items():
            out[f"se_{e}_{name}"] = (c[pattern.format(e=e)].astype(float) - c[e]) ** 2
    for who, cols in (("model", MODEL_QUANTILES), ("base", BASE_QUANTILES)):
        for q, col in cols.items():
            out[f"pin{round(q * 100):02d}_{who}"] = metrics.pinball(y, c[col], q)
        out[f"pin_{who}"] = sum(out[f"pin{round(q * 100):02d}_{who}"] for q in cols)
    inside = (y >= c["bikes_p10"]) & (y <= c["bikes_p90"])
    out["in80"] = inside.astype(float).where(c["bikes_p10"].notna() & c["bikes_p90"].notna())
    return out


def _mean(x: pd.Series) -> float:
    return float(x.mean()) if x.notna().any() else float("nan")


def _with_interval(out: dict[str, float], name: str, value: tuple[float, float, float]) -> None:
    out[name], out[f"{name}_lo"], out[f"{name}_hi"] = value


def _ratio(b: bootstrap.Blocks, loss: pd.Series, base: pd.Series) -> tuple[float, float, float]:
    """sum(loss) / sum(base) on the rows both have, and its interval (1 - skill)."""
    point, lo, hi = bootstrap.skill(b, loss, base)
    return 1.0 - point, 1.0 - hi, 1.0 - lo


def blocks(c: pd.DataFrame) -> bootstrap.Blocks:
    """The bootstrap's blocks of scored targets: one per Paris issue day and station."""
    return bootstrap.blocks(c[["issue_day", "station_code"]])


def scores(g: pd.DataFrame, b: bootstrap.Blocks | None = None) -> dict[str, float]:
    """Every metric of one group of common targets (the columns of the details CSV).

    ``b`` gives the group's rows their blocks and weights (taken from all the
    targets' :func:`blocks`, so every group shares one draw); none: a draw of its own.
    """
    loss = losses(g)
    b = blocks(g) if b is None else b
    out: dict[str, float] = {"n": len(g), "blocks": b.used()}
    _point(out, g, loss, b)
    _probabilities(out, g, loss, b)
    _quantiles(out, g, loss, b)
    return out


def _point(out: dict[str, float], g: pd.DataFrame, loss: pd.DataFrame, b: bootstrap.Blocks) -> None:
    """MAE and RMSE of every point forecast; the model's MAE ratios with their intervals."""
    y = g["bikes_target"]
    for name, col in POINT.items():
        if col in g:
            e = metrics.errors(y, g[col])
            out[f"mae_{name}"], out[f"rmse_{name}"] = e["mae"], e["rmse"]
    out["skill_vs_persistence"] = metrics.skill(out["mae_model"], out["mae_persistence"])
    out["skill_vs_climatology"] = metrics.skill(out["mae_model"], out["mae_climatology"])
    for base in ("persistence", "climatology", "persistence_plus_change"):
        ratio = _ratio(b, loss["ae_model"], loss[f"ae_{base}"])
        _with_interval(out, f"mae_ratio_vs_{base}", ratio)
    if "ae_served" in loss:
        ratio = _ratio(b, loss["ae_served"], loss["ae_persistence"])
        _with_interval(out, "mae_ratio_served_vs_persistence", ratio)
    out["docks_mae_model"] = metrics.errors(g["docks_target"], g["docks_pred"])["mae"]
    out["docks_mae_persistence"] = metrics.errors(g["docks_target"], g["pers_docks"])["mae"]


def _probabilities(
    out: dict[str, float], g: pd.DataFrame, loss: pd.DataFrame, b: bootstrap.Blocks
) -> None:
    """Brier scores of P(empty)/P(full), the model's Brier skills with intervals, alarms."""
    for e in EVENTS:
        out[f"{e}_rate"] = _mean(g[e])
        for name in PROBABILITY:
            out[f"brier_{e}_{name}"] = _mean(loss[f"se_{e}_{name}"])
        for base in ("persistence", "smoothed", "climatology"):
            skill = bootstrap.skill(b, loss[f"se_{e}_model"], loss[f"se_{e}_{base}"])
            _with_interval(out, f"bss_{e}_vs_{base}", skill)
    for name, col in (("model", "p_empty"), ("persistence", "pers_p_empty")):
        a = metrics.alarm(g["empty"], g[col])
        out[f"empty_precision_{name}"], out[f"empty_recall_{name}"] = a["precision"], a["recall"]


def _quantiles(
    out: dict[str, float], g: pd.DataFrame, loss: pd.DataFrame, b: bootstrap.Blocks
) -> None:
    """The 80 % interval's coverage (with its interval) and the pinball losses."""
    cov = metrics.coverage(g["bikes_target"], g["bikes_p10"], g["bikes_p90"])
    out.update({f"interval_{k}": v for k, v in cov.items()})
    _, out["interval_coverage_lo"], out["interval_coverage_hi"] = bootstrap.share(b, loss["in80"])
    for who in ("model", "base"):
        for q in QUANTILES:
            tag = f"q{round(q * 100):02d}"
            out[f"pinball_{tag}_{who}"] = _mean(loss[f"pin{tag[1:]}_{who}"])
    ratio = _ratio(b, loss["pin_model"], loss["pin_base"])
    _with_interval(out, "pinball_ratio_vs_change_quantiles", ratio)


def lead_bins(lead_min: pd.Series, edges: tuple[float, ...]) -> pd.Series:
    """Effective lead (minutes from the last observation to the target's poll) as bins."""
    labels = [
        f"{int(lo)}-{int(hi)}" if np.isfinite(hi) else f"{int(lo)}+"
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return pd.cut(lead_min, list(edges), right=False, labels=labels).astype("string")
