"""``velib forecast evaluate``: the model against persistence and climatology, same targets.

Only observed targets count (a poll listing the station within half an issue
step of ``target_at``: 7.5 minutes for a 15-minute step), and each model is
scored on the *common* targets, where persistence is not stale (last
observation at most 2 h old), climatology has a value and the model a
forecast. Writes a few headline numbers (metrics JSON, for ``dvc metrics
show``), every metric by horizon, Paris hour, arrondissement and held-out day
(details CSV), and the scored table notebook 07 draws from.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline import durable
from pipeline.forecast import metrics, observations, predict, scoring
from pipeline.settings import project
from pipeline.settings.declare import BadInput
from pipeline.settings.forecast import EvaluateSettings

log = logging.getLogger(__name__)

MODELS = {"model": "bikes_pred", "persistence": "pers_bikes", "climatology": "clim_bikes"}


def common(t: pd.DataFrame) -> pd.DataFrame:
    """The targets every model forecast: persistence fresh, climatology and model defined."""
    return t[t["pers_bikes"].notna() & t["clim_bikes"].notna() & t["bikes_pred"].notna()]


def scores(g: pd.DataFrame) -> dict[str, float]:
    """Every metric of one group of common targets."""
    y = g["bikes_target"]
    out: dict[str, float] = {"n": len(g)}
    for name, col in MODELS.items():
        e = metrics.errors(y, g[col])
        out[f"mae_{name}"], out[f"rmse_{name}"] = e["mae"], e["rmse"]
    out["skill_vs_persistence"] = metrics.skill(out["mae_model"], out["mae_persistence"])
    out["skill_vs_climatology"] = metrics.skill(out["mae_model"], out["mae_climatology"])
    out["docks_mae_model"] = metrics.errors(g["docks_target"], g["docks_pred"])["mae"]
    out["docks_mae_persistence"] = metrics.errors(g["docks_target"], g["pers_docks"])["mae"]
    for event in ("empty", "full"):
        yy = g[event]
        out[f"{event}_rate"] = float(yy.mean()) if len(yy) else float("nan")
        for name, col in (
            ("model", f"p_{event}"),
            ("persistence", f"pers_p_{event}"),
            ("smoothed", f"spers_p_{event}"),
            ("climatology", f"clim_p_{event}"),
        ):
            out[f"brier_{event}_{name}"] = metrics.brier(yy, g[col])
        out[f"bss_{event}_vs_persistence"] = metrics.skill(
            out[f"brier_{event}_model"], out[f"brier_{event}_persistence"]
        )
        out[f"bss_{event}_vs_smoothed"] = metrics.skill(
            out[f"brier_{event}_model"], out[f"brier_{event}_smoothed"]
        )
    for name, col in (("model", "p_empty"), ("persistence", "pers_p_empty")):
        a = metrics.alarm(g["empty"], g[col])
        out[f"empty_precision_{name}"], out[f"empty_recall_{name}"] = a["precision"], a["recall"]
    cov = metrics.coverage(y, g["bikes_p10"], g["bikes_p90"])
    out.update({f"interval_{k}": v for k, v in cov.items()})
    return out


def details(t: pd.DataFrame) -> pd.DataFrame:
    """Scores by horizon for all targets, each Paris hour, arrondissement and held-out day."""
    c = common(t).copy()
    c["arrondissement"] = c["arrondissement"].astype("string").fillna("outside Paris")
    rows = []
    for h, g in c.groupby("horizon_min", sort=True):
        rows.append({"horizon": h, "by": "all", "group": "all", **scores(g)})
        for by in ("hour", "arrondissement", "issue_day"):
            for key, gg in g.groupby(by, sort=True):
                rows.append({"horizon": h, "by": by, "group": str(key), **scores(gg)})
    return pd.DataFrame(rows)


def resolution(t: pd.DataFrame) -> dict[str, Any]:
    """How far apart horizons really are at the recording's polling resolution."""
    w = t.pivot_table(index=["station_code", "target_at"], columns="horizon_min",
                      values="last_obs_at", aggfunc="first")  # fmt: skip
    out: dict[str, Any] = {}
    if {15, 30} <= set(w.columns):
        both = w[[15, 30]].dropna()
        out["same_obs_h15_h30"] = float((both[15] == both[30]).mean()) if len(both) else None
    if {15, 60} <= set(w.columns):
        both = w[[15, 60]].dropna()
        out["same_obs_h15_h60"] = float((both[15] == both[60]).mean()) if len(both) else None
    out["lead_median_min"] = {
        int(h): float(g["lead_min"].median()) for h, g in t.groupby("horizon_min", sort=True)
    }
    return out


def headline(t: pd.DataFrame, d: pd.DataFrame) -> dict[str, Any]:
    """The few numbers of the metrics JSON: ``dvc metrics show`` fits 120 columns.

    MAE and skill at the longest and shortest horizons; the Brier skill of
    P(empty) against persistence and the 80 % interval's coverage over every
    horizon (their by-horizon values are in the details).
    """
    top = d[d["by"] == "all"].set_index("horizon")
    short, long = top.index.min(), top.index.max()
    pooled = scores(common(t))

    def r(value: Any) -> float:
        return round(float(value), 4)

    return {
        "mae_h60": r(top.loc[long, "mae_model"]),
        "skill_pers_h60": r(top.loc[long, "skill_vs_persistence"]),
        "skill_clim_h60": r(top.loc[long, "skill_vs_climatology"]),
        "skill_pers_h15": r(top.loc[short, "skill_vs_persistence"]),
        "bss_empty": r(pooled["bss_empty_vs_persistence"]),
        "cover80": r(pooled["interval_coverage"]),
    }


@dataclass
class EvaluateSummary:
    """What ``evaluate`` found, for its one line."""

    targets: int = 0
    common: int = 0
    headline: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the terminal."""
        shown = " ".join(f"{k}={v}" for k, v in self.headline.items())
        return f"forecast evaluate: targets={self.targets} common={self.common} {shown}"


def run(s: EvaluateSettings) -> EvaluateSummary:
    """Score ``s.predictions`` on ``s.processed``; write metrics, details and the scored table."""
    stale = pd.Timedelta(project.parse_duration(s.stale_after))
    obs, polls, _ = observations.load(s.processed, None, stale)
    pred = pd.read_parquet(s.predictions)
    for c in ("issued_at", "target_at", "last_observed_at"):
        pred[c] = pd.to_datetime(pred[c], utc=True).dt.as_unit("ns")
    t = scoring.scored_table(obs, polls["observed_at"], pred, stale)
    if common(t).empty:
        raise BadInput(f"no target of {s.processed} has a forecast in {s.predictions}")
    d = details(t)
    res = resolution(t)
    head = headline(t, d)
    s.metrics.parent.mkdir(parents=True, exist_ok=True)
    durable.write_text(s.metrics, json.dumps(head, indent=2, sort_keys=True) + "\n")
    durable.write_text(s.details, d.to_csv(index=False, float_format="%.4f", lineterminator="\n"))
    predict.write(t, s.scored)
    log.info("same observation behind +15 and +30 min, and median leads: %s", res)
    return EvaluateSummary(len(t), len(common(t)), head)
