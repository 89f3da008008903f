"""Which forecast is served at each horizon: the model, or persistence where it lost.

A learned model that does not beat persistence at a horizon must not be
served there (issue 33: on the hourly recording the model lost at +15 min on
unseen days while its own evaluation said it won). The rule, decided on the
*development* days only (never on the final test):

    the model is served at a horizon when the upper end of the 95 % interval
    of its MAE ratio to persistence (block bootstrap over day x station) is
    below 1; otherwise the forecast there is persistence.

A tie is persistence's: it is the simpler forecast, and a ratio whose interval
reaches 1 has not shown that the model is better. ``velib forecast evaluate``
writes the decision (with its evidence) as a small JSON file; ``predict`` and
the live forecaster apply it (:func:`apply`) and say so in their log.
Persistence replaces the point forecasts of bikes and docks only where the
state in force is fresh (no older than the stream's ``stale_after``); the
interval is widened to contain it; P(empty)/P(full) stay the model's (scored
apart, against smoothed persistence).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import durable
from pipeline.settings.declare import BadInput

log = logging.getLogger(__name__)

RULE = (
    "model served at a horizon when the upper end of the 95 % interval of its MAE ratio to "
    "persistence on the development days is below 1; otherwise persistence"
)


@dataclass(frozen=True)
class Serving:
    """The horizons (minutes) where persistence is served instead of the model."""

    persistence_at: frozenset[int] = frozenset()
    stale: pd.Timedelta = pd.Timedelta(hours=2)


def decide(evidence: Mapping[int, Mapping[str, float]]) -> dict[int, str]:
    """``model`` or ``persistence`` per horizon from its development ratio and interval.

    Args:
        evidence: per horizon, ``mae_ratio_vs_persistence`` and its ``_hi``
            (upper end of the interval) on the development days. A horizon
            without development targets (NaN) keeps the model: there is no
            evidence against it, which the report says.
    """
    out = {}
    for h, e in sorted(evidence.items()):
        hi = float(e["mae_ratio_vs_persistence_hi"])
        out[int(h)] = "persistence" if not math.isnan(hi) and hi >= 1.0 else "model"
    return out


def write(path: Path, served: Mapping[int, str], evidence: Mapping[int, Mapping[str, Any]]) -> None:
    """The decision and its evidence as a byte-stable JSON file."""
    body = {
        "rule": RULE,
        "horizons": {
            str(h): {"served": served[h], **{k: _round(v) for k, v in evidence[h].items()}}
            for h in sorted(served)
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    durable.write_text(path, json.dumps(body, indent=2, sort_keys=True) + "\n")


def _round(v: Any) -> Any:
    return round(float(v), 4) if isinstance(v, float | np.floating) else v


def load(path: Path | None, stale: pd.Timedelta) -> Serving:
    """The decision of :func:`write` (none given: the model everywhere); logs what it changes."""
    if path is None:
        return Serving(frozenset(), stale)
    try:
        horizons = json.loads(path.read_text())["horizons"]
        chosen = frozenset(int(h) for h, e in horizons.items() if e["served"] == "persistence")
    except FileNotFoundError:
        raise BadInput(f"no serving decision at {path}: run velib forecast evaluate") from None
    except (ValueError, KeyError, TypeError) as err:
        raise BadInput(f"{path} is not a serving decision of velib forecast evaluate") from err
    for h in sorted(chosen):
        log.warning("serving persistence at +%d min: the model did not beat it on development "
                    "days (%s)", h, path)  # fmt: skip
    return Serving(chosen, stale)


def apply(pred: pd.DataFrame, feat: pd.DataFrame, serving: Serving) -> pd.DataFrame:
    """Persistence's bikes and docks where ``serving`` says so and the state is fresh.

    Args:
        pred: the model's forecasts, aligned with ``feat``.
        feat: the feature rows (``horizon_min``, ``last_bikes``, ``last_docks``, ``age_min``).
        serving: the decision.
    """
    if not serving.persistence_at:
        return pred
    fresh = feat["age_min"] <= serving.stale.total_seconds() / 60
    use = (feat["horizon_min"].isin(sorted(serving.persistence_at)) & fresh).to_numpy()
    out = pred.copy()
    out.loc[use, "bikes_pred"] = feat.loc[use, "last_bikes"].astype(float).to_numpy()
    out.loc[use, "docks_pred"] = feat.loc[use, "last_docks"].astype(float).to_numpy()
    out["bikes_p10"] = np.minimum(out["bikes_p10"], out["bikes_pred"])
    out["bikes_p90"] = np.maximum(out["bikes_p90"], out["bikes_pred"])
    return out
