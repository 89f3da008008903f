"""The two baselines every forecast here must beat, on the same targets.

* persistence: the state in force at issue time (the station's last
  observation before ``issued_at``), none when that is older than the stale
  limit; its P(empty) is 1 if that observation was empty, else 0, and a
  smoothed variant learns P(empty at target | empty now, horizon) from
  earlier days, so the Brier skill is not won against a strawman;
* climatology: the station's mean at the target's Paris hour and day type
  over the training days, falling back to its mean at that hour, then
  overall.
"""

from __future__ import annotations

import pandas as pd

from pipeline.forecast import climatology as climatology_
from pipeline.forecast.climatology import Climatology


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


def climatology(clim: Climatology, station: pd.Series, target_at: pd.Series) -> pd.DataFrame:
    """bikes, p_empty, p_full: the plain cell means (no shrinking, no interpolation)."""
    at = climatology_.lookup(clim, station, target_at, shrink=0.0, interpolate=False)
    return pd.DataFrame(
        {"bikes": at["bikes"], "p_empty": at["empty"], "p_full": at["full"]}, index=station.index
    )


def fit_smoothed_persistence(
    horizon: pd.Series, empty_now: pd.Series, empty_then: pd.Series
) -> pd.Series:
    """P(event at target | event at the last observation, horizon) from earlier rows."""
    rows = pd.DataFrame({"h": horizon.to_numpy(), "s": empty_now.to_numpy(bool)})
    rows["y"] = empty_then.to_numpy(float)
    return rows.groupby(["h", "s"], sort=True)["y"].mean()


def smoothed_persistence(table: pd.Series, horizon: pd.Series, event_now: pd.Series) -> pd.Series:
    """Apply a :func:`fit_smoothed_persistence` table (NaN where it has no cell)."""
    idx = pd.MultiIndex.from_arrays([horizon.to_numpy(), event_now.to_numpy(bool)])
    return pd.Series(table.reindex(idx).to_numpy(), index=horizon.index)
