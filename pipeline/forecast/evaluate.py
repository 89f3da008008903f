"""``velib forecast evaluate``: the model against the baselines, same targets, with intervals.

Only observed targets count (a poll listing the station within half an issue
step of ``target_at``: 7.5 minutes for a 15-minute step), and each model is
scored on the *common* targets, where persistence is not stale (last
observation at most 2 h old), climatology has a value and the model a
forecast. The held-out days are split in two periods: the **final test**
(params.yaml ``forecast.final_test``), scored apart, and the **development**
days, the only ones any decision looks at, such as which forecast is served
at each horizon (:mod:`pipeline.forecast.serving`). Every skill has a 95 %
block-bootstrap interval (:mod:`pipeline.forecast.skills`).

Writes the headline per period and horizon (metrics JSON, for ``dvc metrics
show``), every metric by horizon and period, Paris hour, arrondissement,
held-out day and effective lead (details CSV), the serving decision, and the
scored table notebook 07 draws from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipeline import durable
from pipeline.forecast import bootstrap, observations, predict, scoring, serving, skills
from pipeline.settings import project
from pipeline.settings.declare import BadInput
from pipeline.settings.forecast import EvaluateSettings

log = logging.getLogger(__name__)

DEVELOPMENT, FINAL_TEST = "development", "final_test"
# effective lead bins (minutes from the last observation to the target's poll)
LEAD_EDGES: tuple[float, ...] = (0, 10, 20, 30, 45, 60, 90, 120, float("inf"))
BY = ("period", "hour", "arrondissement", "issue_day", "lead")
common = skills.common


def periods(issue_day: pd.Series, final_test: Sequence[tuple[date, date]]) -> pd.Series:
    """``final_test`` for issue days inside one of the ranges, else ``development``."""
    days = pd.to_datetime(issue_day).dt.date
    inside = np.zeros(len(days), dtype=bool)
    for lo, hi in final_test:
        inside |= ((days >= lo) & (days <= hi)).to_numpy()
    return pd.Series(np.where(inside, FINAL_TEST, DEVELOPMENT), index=issue_day.index)


def evidence(c: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per horizon, the model's MAE ratio to persistence on the development days, with interval."""
    out = {}
    for h in sorted(set(c["horizon_min"])):
        g = c[(c["horizon_min"] == h) & (c["period"] == DEVELOPMENT)]
        b = bootstrap.blocks(g[["issue_day", "station_code"]])
        point, lo, hi = bootstrap.skill(
            b,
            (g["bikes_pred"] - g["bikes_target"]).abs(),
            (g["pers_bikes"] - g["bikes_target"]).abs(),
        )
        out[int(h)] = {
            "development_targets": len(g),
            "development_days": int(g["issue_day"].nunique()),
            "mae_ratio_vs_persistence": 1.0 - point,
            "mae_ratio_vs_persistence_lo": 1.0 - hi,
            "mae_ratio_vs_persistence_hi": 1.0 - lo,
        }
    return out


def add_served(t: pd.DataFrame, served: dict[int, str]) -> None:
    """In place: ``served_bikes``, the forecast the serving decision puts out at each horizon."""
    pers = t["horizon_min"].map(lambda h: served.get(int(h)) == "persistence").astype(bool)
    fallback = pers & t["pers_bikes"].notna()
    t["served_bikes"] = t["bikes_pred"].where(~fallback, t["pers_bikes"])


def details(t: pd.DataFrame) -> pd.DataFrame:
    """Scores by horizon: all held-out days, each period, Paris hour, area, day, lead."""
    c = common(t).reset_index(drop=True)
    c["arrondissement"] = c["arrondissement"].astype("string").fillna("outside Paris")
    c["lead"] = skills.lead_bins(c["lead_min"], LEAD_EDGES)
    b = skills.blocks(c)  # one draw for every group: their intervals are paired
    rows = []
    for h, g in c.groupby("horizon_min", sort=True):
        rows.append(
            {
                "horizon": h,
                "by": "all",
                "group": "all",
                **skills.scores(g, b.take(g.index.to_numpy())),
            }
        )
        for by in BY:
            for key, gg in g.groupby(by, sort=True):
                row = skills.scores(gg, b.take(gg.index.to_numpy()))
                rows.append({"horizon": h, "by": by, "group": str(key), **row})
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


def resolution_line(r: Mapping[str, Any]) -> str:
    """One sentence of :func:`resolution`: the shares of one observation, the median leads."""

    def share(key: str) -> str:
        return "n/a" if r.get(key) is None else f"{r[key]:.0%}"

    leads = ", ".join(f"+{h} min {m:.0f} min" for h, m in r.get("lead_median_min", {}).items())
    return (
        "targets whose last observation is the same at +15 and +30 min: "
        f"{share('same_obs_h15_h30')}, at +15 and +60 min: {share('same_obs_h15_h60')}; "
        "median lead (target time minus "
        f"the last observation before issue): {leads}"
    )


# the headline of each period and horizon: (JSON name, details column, decimals, interval?)
HEADLINE: tuple[tuple[str, str, int, bool], ...] = (
    ("targets", "n", 0, False),
    ("mae_bikes_model", "mae_model", 3, False),
    ("mae_ratio_vs_persistence", "mae_ratio_vs_persistence", 3, True),
    ("mae_ratio_vs_persistence_plus_change", "mae_ratio_vs_persistence_plus_change", 3, True),
    ("mae_ratio_served_vs_persistence", "mae_ratio_served_vs_persistence", 3, True),
    ("brier_skill_empty_vs_smoothed_persistence", "bss_empty_vs_smoothed", 3, True),
    ("brier_skill_full_vs_smoothed_persistence", "bss_full_vs_smoothed", 3, True),
    ("pinball_ratio_vs_persistence_change_quantiles", "pinball_ratio_vs_change_quantiles", 3, True),
    ("coverage80_share", "interval_coverage", 3, True),
)


def headline(t: pd.DataFrame, d: pd.DataFrame, served: dict[int, str]) -> dict[str, Any]:
    """The metrics JSON, flat: each headline score per period and horizon, rounded.

    ``served_h15`` says which forecast is served at +15 min; then, per period
    (``development_``, ``final_test_``), e.g. ``final_test_mae_ratio_vs_persistence_h15``
    with ``..._h15_lo`` and ``..._h15_hi`` closing its 95 % interval; ratios are
    the model's MAE (pinball loss) over the baseline's, below 1 when the model is
    better; ``lead_median_minutes`` is the effective lead.
    """
    out: dict[str, Any] = {f"served_h{h}": served[h] for h in sorted(served)}
    rows = d[d["by"] == "period"]
    leads = common(t).groupby(["period", "horizon_min"])["lead_min"].median()
    for period, g in rows.groupby("group", sort=True):
        for _, row in g.sort_values("horizon").iterrows():
            h = int(row["horizon"])
            for name, col, digits, interval in HEADLINE:
                for end in ("", "_lo", "_hi") if interval else ("",):
                    value = float(row[f"{col}{end}"])
                    key = f"{period}_{name}_h{h}{end}"
                    out[key] = int(value) if not digits else round(value, digits)
            out[f"{period}_lead_median_minutes_h{h}"] = round(float(leads.loc[(period, h)]), 1)
    return out


@dataclass
class EvaluateSummary:
    """What ``evaluate`` found, for the CLI's table: counts, the decision, each period's scores."""

    targets: int = 0
    common: int = 0
    served: dict[int, str] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    development: dict[str, Any] = field(default_factory=dict)


def run(s: EvaluateSettings) -> EvaluateSummary:
    """Score ``s.predictions`` on ``s.processed``; write metrics, details, serving, scored table."""
    stale = pd.Timedelta(project.parse_duration(s.stale_after))
    obs, polls, _ = observations.load(s.processed, None, stale)
    pred = pd.read_parquet(s.predictions)
    for c in ("issued_at", "target_at", "last_observed_at"):
        pred[c] = pd.to_datetime(pred[c], utc=True).dt.as_unit("ns")
    t = scoring.scored_table(obs, polls["observed_at"], pred, stale)
    if common(t).empty:
        raise BadInput(f"no target of {s.processed} has a forecast in {s.predictions}")
    t["period"] = periods(t["issue_day"], s.final_test)
    proof = evidence(common(t))
    served = serving.decide(proof)
    for h, e in proof.items():
        if not e["development_targets"]:
            log.warning("+%d min: no development day to decide on; the model is served "
                        "without evidence", h)  # fmt: skip
        elif served[h] == "persistence":
            log.warning("+%d min: the model does not beat persistence on development days "
                        "(MAE ratio %.3f, 95 %% interval %.3f-%.3f): persistence is served there",
                        h, e["mae_ratio_vs_persistence"], e["mae_ratio_vs_persistence_lo"],
                        e["mae_ratio_vs_persistence_hi"])  # fmt: skip
    add_served(t, served)
    d = details(t)
    head = headline(t, d, served)
    s.metrics.parent.mkdir(parents=True, exist_ok=True)
    durable.write_text(s.metrics, json.dumps(head, indent=2, sort_keys=True) + "\n")
    durable.write_text(s.details, d.to_csv(index=False, float_format="%.4f", lineterminator="\n"))
    serving.write(s.serving, served, proof)
    predict.write(t, s.scored)
    log.info("%s", resolution_line(resolution(t)))
    final = {k[len(FINAL_TEST) + 1 :]: v for k, v in head.items() if k.startswith(FINAL_TEST)}
    dev = {k[len(DEVELOPMENT) + 1 :]: v for k, v in head.items() if k.startswith(DEVELOPMENT)}
    return EvaluateSummary(len(t), len(common(t)), served, final, dev)
