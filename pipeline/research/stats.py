"""Uncertainty of the research's shares, and the rule that says which stations may be ranked.

A share of time empty measured over 6 hours and one measured over 300 hours
are not the same kind of number, so no ranking or comparison is drawn
without an interval and its n:

* a **station's** share of its known time: a Wilson score interval with one
  observation per hour known, or per poll that listed the station (the
  notebooks' n: the recordings poll about once an hour, and a poll is what
  was actually seen). States last on the scale of an hour, so consecutive
  polls are roughly independent while consecutive 15-minute windows are
  not (most repeat the last poll); the interval is rough, but it is as wide
  as it should be relative to another station's: wide after 6 polls, narrow
  after 300. Stations are ranked by its lower end (:func:`rank`), the way a
  rating site ranks items by the lower bound of their score, so a station
  that was empty for its only 6 h does not outrank one empty 80 % of 300 h;
* an **area's** share of its stations' known time: a percentile bootstrap
  over its stations (:func:`bootstrap_share`), each station drawn with its
  known hours, since stations, not hours, are the independent units of an area.

Codes made up from unmapped GBFS ids (:func:`pipeline.record.is_placeholder`)
are never ranked: they are not stations a reader can find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from pipeline.record import is_placeholder

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 20220512  # fixed: the same intervals, hence the same bytes, on every run


def wilson_interval(
    successes: ArrayLike, n: ArrayLike, z: float = Z95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The Wilson score interval of a proportion ``successes / n`` (n may be fractional).

    Unlike the normal ("Wald") interval it stays within [0, 1] and does not
    collapse to a point at 0 % or 100 %, which is where hotspot stations are.
    ``n`` of 0 (or missing) gives NaN.
    """
    k = np.asarray(successes, dtype="float64")
    m = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.clip(k / m, 0.0, 1.0)
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
    ok = m > 0
    low = np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact at the ends
    high = np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def share_interval(
    share: ArrayLike, hours: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """95 % interval of a station's share of its known time, one observation per hour known."""
    s = np.asarray(share, dtype="float64")
    h = np.asarray(hours, dtype="float64")
    return wilson_interval(s * h, h)


def rank(
    per_station: pd.DataFrame,
    column: str,
    *,
    min_hours: float,
    eligible: pd.Series | None = None,
    n: str = "hours_known",
) -> pd.DataFrame:
    """The stations that may be ranked on ``column``, best-established highest first.

    Args:
        per_station: ``research.tables.station_summary`` (index ``station_code``).
        column: a share column (``empty_share``, ``full_share``).
        min_hours: a station known less than this is not ranked (the stated rule).
        eligible: further conditions (e.g. in service), aligned on the index.
        n: the column holding each station's number of observations (hours
            known, or the polls that listed it).

    Returns:
        The rows kept, with ``low`` and ``high`` (the 95 % interval of
        ``column``), ordered by ``low``, then the share, then the code; a
        placeholder code is never kept.
    """
    codes = per_station.index.to_series()
    keep = (per_station["hours_known"] >= min_hours) & ~codes.map(is_placeholder).astype(bool)
    keep &= per_station[column].notna()
    if eligible is not None:
        keep &= eligible.reindex(per_station.index).fillna(False).astype(bool)
    kept = per_station[keep].copy()
    kept["low"], kept["high"] = share_interval(kept[column], kept[n])
    kept["code"] = kept.index
    kept = kept.sort_values(["low", column, "code"], ascending=[False, False, True], kind="stable")
    return kept.drop(columns="code")


def bootstrap_share(
    share: pd.Series,
    hours: pd.Series,
    groups: pd.Series,
    *,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """Per group, the 95 % percentile bootstrap interval of its stations' hour-weighted share.

    Args:
        share: each station's share of its known time.
        hours: each station's hours known (its weight in the group's share).
        groups: each station's group (an arrondissement); missing ones are left out.
        draws: bootstrap resamples (stations drawn with replacement within a group).
        seed: the generator's seed, fixed so that a run gives the same bytes.

    Returns:
        One row per group (sorted): ``stations`` (n), ``share`` (the
        weighted share), ``low`` and ``high``.
    """
    frame = pd.DataFrame({"s": share, "h": hours, "g": groups}).dropna()
    frame = frame[frame["h"] > 0]
    rng = np.random.default_rng(seed)
    rows = []
    for group, mine in frame.groupby("g", sort=True):
        s = mine["s"].to_numpy(dtype="float64")
        h = mine["h"].to_numpy(dtype="float64")
        picks = rng.integers(0, len(s), size=(draws, len(s)))
        resampled = (s[picks] * h[picks]).sum(axis=1) / h[picks].sum(axis=1)
        low, high = np.quantile(resampled, [0.025, 0.975])
        rows.append(
            {
                "group": group,
                "stations": len(s),
                "share": float((s * h).sum() / h.sum()),
                "low": float(low),
                "high": float(high),
            }
        )
    out = pd.DataFrame(rows, columns=["group", "stations", "share", "low", "high"])
    return out.set_index("group")


def poisson_interval(
    count: ArrayLike, z: float = Z95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The 95 % interval of a Poisson count (Byar's approximation of the exact interval).

    For a rate of events per unit of exposure (episode starts per 1000 observed
    station-hours), divide both ends by the exposure. Within 1 % of the exact
    (Garwood) interval from a count of about 5; 0 events give [0, ~3.7].
    """
    k = np.asarray(count, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        low = k * (1 - 1 / (9 * k) - z / (3 * np.sqrt(k))) ** 3
        high = (k + 1) * (1 - 1 / (9 * (k + 1)) + z / (3 * np.sqrt(k + 1))) ** 3
    return np.where(k > 0, np.clip(low, 0, None), 0.0), high
