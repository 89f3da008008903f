"""The baselines every forecast here must beat, on the same targets.

Point forecasts of bikes:

* persistence: the state in force at issue time (the station's last
  observation before ``issued_at``), none when that is older than the stale
  limit;
* persistence plus the climatology's expected change: the last observation
  moved by the change the station's profile expects between the last
  observation's time and the target time (:func:`persistence_plus_change`);
  what a learned model must beat before its features mean anything;
* climatology: the station's mean at the target's Paris hour and day type
  over the training days, falling back to its mean at that hour, then
  overall.

Probabilities of empty (full) at the target, for the Brier score:

* 0/1 persistence: 1 if the last observation was empty (full), else 0;
* smoothed persistence: P(empty at +h | bikes now = 0, 1, ..., 5+), per
  horizon, learnt on earlier days (and the same for full with docks), so the
  Brier skill is not won against a strawman (:func:`fit_smoothed_persistence`).

Quantiles, for the pinball loss: persistence plus the change quantiles of
the horizon and the target's Paris hour, learnt on earlier days
(:func:`fit_change_quantiles`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.forecast import climatology as climatology_
from pipeline.forecast.climatology import Climatology

COUNT_CAP = 5  # bikes (docks) now: 0, 1, 2, 3, 4 and "5 or more"
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
MIN_CELL = 200  # a (horizon, hour) cell with fewer rows uses the horizon's quantiles


def persistence(feat: pd.DataFrame, stale_limit: pd.Timedelta) -> pd.DataFrame:
    """bikes, docks, p_empty, p_full of the last observation; NaN where it is too old.

    Args:
        feat: rows with ``last_bikes``, ``last_docks`` and ``age_min`` (minutes
            between the last observation and ``issued_at``).
        stale_limit: older than this, the state is a guess, not a forecast (the
            stream's ``stale_after``).
    """
    ok = feat["age_min"] <= stale_limit.total_seconds() / 60
    out = pd.DataFrame(index=feat.index)
    out["bikes"] = feat["last_bikes"].where(ok)
    out["docks"] = feat["last_docks"].where(ok)
    out["p_empty"] = (feat["last_bikes"] == 0).astype(float).where(ok)
    out["p_full"] = (feat["last_docks"] == 0).astype(float).where(ok)
    return out


def persistence_plus_change(
    last: pd.Series, cap: pd.Series, clim_target: pd.Series, clim_last: pd.Series
) -> pd.Series:
    """The last bikes plus the profile's change from the last observation to the target.

    ``clim_target`` and ``clim_last`` are the climatology at the target time and
    at the last observation's time (the features of the same names:
    :func:`pipeline.forecast.features.add_climatology`); no profile means no
    change. Clipped to [0, ``cap``] (bikes + docks at the last observation).
    """
    change = (clim_target - clim_last).fillna(0.0)
    top = np.maximum(cap.to_numpy(dtype=float), last.to_numpy(dtype=float))
    value = np.clip(last.to_numpy(dtype=float) + change.to_numpy(dtype=float), 0, top)
    return pd.Series(value, index=last.index)


def climatology(clim: Climatology, station: pd.Series, target_at: pd.Series) -> pd.DataFrame:
    """bikes, p_empty, p_full: the plain cell means (no shrinking, no interpolation)."""
    at = climatology_.lookup(clim, station, target_at, shrink=0.0, interpolate=False)
    return pd.DataFrame(
        {"bikes": at["bikes"], "p_empty": at["empty"], "p_full": at["full"]}, index=station.index
    )


def count_class(now: pd.Series) -> np.ndarray:
    """Bikes (docks) now as a class 0, 1, ..., :data:`COUNT_CAP` (which means that many or more)."""
    return np.minimum(now.to_numpy(dtype=float), COUNT_CAP).astype(np.int64)


def fit_smoothed_persistence(
    horizon: pd.Series, count_now: pd.Series, event_then: pd.Series
) -> pd.Series:
    """P(event at target | count now, horizon) from earlier rows: a table by (horizon, class).

    Args:
        horizon: each row's horizon (minutes).
        count_now: bikes (for empty) or docks (for full) at the last observation.
        event_then: whether the station was empty (full) at the target.

    Returns:
        The share of rows with the event per (horizon, :func:`count_class`), and
        per (horizon, -1) the horizon's overall share (used for a missing class).
    """
    rows = pd.DataFrame({"h": horizon.to_numpy(), "k": count_class(count_now)})
    rows["y"] = event_then.to_numpy(float)
    by_class = rows.groupby(["h", "k"], sort=True)["y"].mean()
    overall = rows.groupby("h", sort=True)["y"].mean()
    overall.index = pd.MultiIndex.from_arrays([overall.index, np.full(len(overall), -1)])
    return pd.concat([by_class, overall]).sort_index()


def smoothed_persistence(table: pd.Series, horizon: pd.Series, count_now: pd.Series) -> pd.Series:
    """Apply a :func:`fit_smoothed_persistence` table (NaN where its horizon has no row)."""
    h = horizon.to_numpy()
    got = table.reindex(pd.MultiIndex.from_arrays([h, count_class(count_now)])).to_numpy()
    overall = table.reindex(pd.MultiIndex.from_arrays([h, np.full(len(h), -1)])).to_numpy()
    return pd.Series(np.where(np.isnan(got), overall, got), index=horizon.index)


def fit_change_quantiles(horizon: pd.Series, hour: pd.Series, change: pd.Series) -> pd.DataFrame:
    """The :data:`QUANTILES` of the change of bikes per (horizon, target hour) from earlier rows.

    A cell of fewer than :data:`MIN_CELL` rows is left out; the horizon's own
    quantiles, under hour -1, stand in for it.
    """
    rows = pd.DataFrame({"h": horizon.to_numpy(), "hour": hour.to_numpy(), "d": change.to_numpy()})
    rows = rows.dropna()
    cells = rows.groupby(["h", "hour"], sort=True)["d"]
    table = cells.quantile(list(QUANTILES)).unstack()
    table = table[cells.size() >= MIN_CELL]
    overall = rows.groupby("h", sort=True)["d"].quantile(list(QUANTILES)).unstack()
    overall.index = pd.MultiIndex.from_arrays([overall.index, np.full(len(overall), -1)])
    out = pd.concat([table, overall]).sort_index()
    out.columns = [f"q{round(q * 100):02d}" for q in QUANTILES]
    return out


def change_quantiles(
    table: pd.DataFrame, horizon: pd.Series, hour: pd.Series, last: pd.Series, cap: pd.Series
) -> pd.DataFrame:
    """Persistence plus the change quantiles of the row's cell: q10, q50, q90 of bikes."""
    h = horizon.to_numpy()
    cell = table.reindex(pd.MultiIndex.from_arrays([h, hour.to_numpy()]))
    overall = table.reindex(pd.MultiIndex.from_arrays([h, np.full(len(h), -1)]))
    top = np.maximum(cap.to_numpy(dtype=float), last.to_numpy(dtype=float))
    out = pd.DataFrame(index=horizon.index)
    for c in table.columns:
        d = np.where(cell[c].isna(), overall[c].to_numpy(), cell[c].to_numpy())
        out[c] = np.clip(last.to_numpy(dtype=float) + d, 0, top)
    return out
