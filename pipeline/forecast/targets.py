"""Which targets were observed: a station listed by a poll near ``target_at``.

The recordings are sparse (a snapshot every ~1 h in the open-data history), so
a target is scored only where the station appears in a poll within
``tolerance`` of ``target_at``. With issue times on a grid of ``step`` and a
tolerance of half a step, each poll is matched to exactly one grid instant:
no poll is scored twice, none is thrown away, and the timing error of a
target is at most half a step. The same rows are the training examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

HORIZONS: tuple[int, ...] = (15, 30, 60)


def grid(start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta) -> pd.DatetimeIndex:
    """Instants in [start, end) on multiples of ``step`` (UTC)."""
    return pd.date_range(start.ceil(step), end - pd.Timedelta(1, "ns"), freq=step)


def poll_grid(poll_times: pd.Series, step: pd.Timedelta) -> pd.DataFrame:
    """Grid instants with a poll within half a step: ``target_at`` -> ``target_obs_at``."""
    t = pd.Series(pd.to_datetime(poll_times, utc=True)).reset_index(drop=True)
    g = pd.DataFrame({"target_at": t.dt.round(step), "target_obs_at": t})
    g["err"] = (g["target_obs_at"] - g["target_at"]).abs()
    g = g[g["err"] <= step / 2]
    g = g.sort_values(["err", "target_obs_at"]).drop_duplicates("target_at")
    return g.drop(columns="err").sort_values("target_at", ignore_index=True)


def scored(
    obs: pd.DataFrame,
    poll_times: pd.Series,
    step: pd.Timedelta,
    horizons: Sequence[int] = HORIZONS,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The observed targets with ``target_at`` in [start, end), one row per horizon.

    Returns:
        station_code, issued_at, horizon_min, target_at, target_obs_at,
        bikes_target, docks_target: every station of each matched poll.
    """
    g = poll_grid(poll_times, step)
    if start is not None:
        g = g[g["target_at"] >= start]
    if end is not None:
        g = g[g["target_at"] < end]
    truth = obs[["station_code", "observed_at", "bikes_available", "docks_available"]].rename(
        columns={
            "observed_at": "target_obs_at",
            "bikes_available": "bikes_target",
            "docks_available": "docks_target",
        }
    )
    t = g.merge(truth, on="target_obs_at")
    out = []
    for h in horizons:
        x = t.copy()
        x["horizon_min"] = np.int64(h)
        x["issued_at"] = x["target_at"] - pd.Timedelta(minutes=h)
        out.append(x)
    cols = [
        "station_code",
        "issued_at",
        "horizon_min",
        "target_at",
        "target_obs_at",
        "bikes_target",
        "docks_target",
    ]
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)[cols]
    return res.sort_values(["issued_at", "horizon_min", "station_code"], ignore_index=True)
