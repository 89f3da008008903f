"""Empty and full episodes of the stations, from the stream's ``alerts/`` table, with bounds.

An *episode* of a condition (``empty``: no bike to take, ``full``: no dock to
return to; :mod:`pipeline.vocabulary`) runs from the alert that puts a
station in that condition to the station's next alert, whatever it is.

**Interval censoring.** A station is seen only when a poll lists it, so an
alert's ``at`` is the first poll that saw the change, and its
``seen_before_at`` the station's last poll before it (still as before): the
change happened somewhere in (``seen_before_at``, ``at``]. Both ends of an
episode are such intervals::

    start_after < start  ...  end_after < end
    (last seen    (first seen   (last seen    (first seen
     before it)    in it)        in it)        out of it)

so its length lies between ``lower_minutes`` = end_after - start (it was
seen in the condition that long) and ``upper_minutes`` = end - start_after
(it cannot have lasted longer). ``minutes`` (start to end, alert to alert)
lies between them. An episode seen by a single poll has a lower bound of 0:
it may have lasted a moment. Two changes between two polls show as one (a
station that went empty and back between polls has no episode at all), so
episodes shorter than the gap between polls are missed, not merely rounded.

**Censoring.** Some episodes have no upper bound:

* *right-censored*: the next alert is ``stale`` (the station stopped
  reporting; the real end is unknown), or there is no next alert before the
  end of the data;
* *left-censored*: the episode opens with ``back`` (the station reports
  again after being unknown) or with the station's first record (no
  ``previous``): the condition may have begun earlier.

Their lower bound still holds. Distributions and medians are taken over
*complete* episodes (neither censored); censored ones are counted and drawn
apart, never mixed in. This under-represents long episodes (the longer, the
likelier to be cut), which the notebook states next to the numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import vocabulary
from pipeline.research import observation

CONDITIONS: tuple[str, ...] = ("empty", "full")
COLUMNS: tuple[str, ...] = (
    "station_code",
    "condition",
    "start_after",
    "start",
    "end_after",
    "end",
    "minutes",
    "lower_minutes",
    "upper_minutes",
    "ended_by",
    "left_censored",
    "right_censored",
    "complete",
    "commune",
    "arrondissement",
)
_TIMES = ("start_after", "start", "end_after", "end")


def _minutes(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 60


def episodes(
    alerts: pd.DataFrame,
    data_end: pd.Timestamp,
    conditions: tuple[str, ...] = CONDITIONS,
    last_seen: pd.Series | None = None,
) -> pd.DataFrame:
    """Episodes of ``conditions`` from alert rows (``vocabulary.ALERT`` columns, UTC times).

    Args:
        alerts: alert rows of any number of stations, in any order.
        data_end: the end of the data (UTC): an episode still running then is
            right-censored there.
        conditions: the conditions to extract.
        last_seen: each station's last sighting (``observation.last_seen``):
            the ``end_after`` of an episode still running at ``data_end``
            (without it, ``data_end``).

    Returns:
        One row per episode (``COLUMNS``), ordered by start then station; the
        bounds are NaN where unknown (no upper bound for a censored episode).
    """
    if alerts.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
        return empty.astype({c: "datetime64[ns, UTC]" for c in _TIMES})
    rows = alerts.sort_values(["station_code", "at"], kind="stable").reset_index(drop=True)
    if "seen_before_at" not in rows:
        rows["seen_before_at"] = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns, UTC]")
    same_station = rows["station_code"].shift(-1) == rows["station_code"]
    rows["end"] = rows["at"].shift(-1).where(same_station)
    rows["end_after"] = rows["seen_before_at"].shift(-1).where(same_station)
    rows["ended_by"] = rows["alert"].shift(-1).where(same_station)
    found = rows[rows["condition"].isin(conditions) & (rows["at"] < data_end)].copy()
    at_end = found["end"].isna()
    found["end"] = found["end"].where(~at_end, data_end)
    seen_last = found["station_code"].map(last_seen) if last_seen is not None else None
    still = seen_last.where(seen_last <= data_end) if seen_last is not None else None
    found["end_after"] = found["end_after"].where(
        ~at_end, still.fillna(data_end) if still is not None else data_end
    )
    found["ended_by"] = found["ended_by"].where(~at_end, None)
    found["left_censored"] = (found["alert"] == vocabulary.BACK) | found["previous"].isna()
    found["right_censored"] = at_end | (found["ended_by"] == vocabulary.STALE)
    found["complete"] = ~(found["left_censored"] | found["right_censored"])
    found = found.rename(columns={"at": "start", "seen_before_at": "start_after"})
    found["minutes"] = _minutes(found["end"] - found["start"])
    found["lower_minutes"] = _minutes(found["end_after"] - found["start"]).clip(lower=0)
    found["upper_minutes"] = _minutes(found["end"] - found["start_after"]).where(found["complete"])
    found = found.sort_values(["start", "station_code"], kind="stable", ignore_index=True)
    return found[list(COLUMNS)].astype({"left_censored": bool, "right_censored": bool})


def start_hours(found: pd.DataFrame) -> pd.DataFrame:
    """The Paris hour of each episode's start, spread over the interval it is known to lie in.

    Returns:
        One row per episode whose start interval (``start_after``, ``start``]
        is known (not left-censored), columns 0-23: the share of the interval
        in each hour of the day (each row sums to 1).
    """
    known = found[~found["left_censored"].astype(bool) & found["start_after"].notna()]
    weights = observation.hour_spread(known["start_after"], known["start"])
    return pd.DataFrame(weights, index=known.index, columns=list(observation.HOURS))


def hourly_rates(
    found: pd.DataFrame, spans: pd.DataFrame, gaps: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Episode starts per 1000 station-hours under observation, per Paris hour of the day.

    Starts (:func:`start_hours`) and the time under observation
    (``observation.observed_intervals``) are spread over the hours the same
    way, so an hour seen through few polls weighs little instead of looking
    quiet. A start is recorded only when the episode outlasts the gap to the
    next poll, so hours seen through longer gaps miss more short episodes;
    ``gaps`` (minutes, low exclusive, high inclusive) keeps only the starts and
    the spans between polls that far apart, so every hour is seen at the same
    resolution.

    Returns:
        Index 0-23: ``station_hours`` and, per condition, ``<c>_starts`` and
        ``<c>_per_1000`` (NaN in an hour with no station-hour under observation).
    """
    weights = start_hours(found)
    kinds = found.loc[weights.index, "condition"]
    if gaps is not None:
        low, high = gaps
        gap = _minutes(found.loc[weights.index, "start"] - found.loc[weights.index, "start_after"])
        keep = (gap > low) & (gap <= high)
        weights, kinds = weights[keep], kinds[keep]
        span = _minutes(spans["until"] - spans["after"])
        spans = spans[(span > low) & (span <= high)]
    exposure = observation.station_hours(spans)
    out = pd.DataFrame({"station_hours": exposure})
    starts = weights.groupby(kinds).sum().T.reindex(index=out.index, columns=list(CONDITIONS))
    for condition in CONDITIONS:
        out[f"{condition}_starts"] = starts[condition].fillna(0.0).to_numpy()
        rate = out[f"{condition}_starts"] / exposure.where(exposure > 0) * 1000
        out[f"{condition}_per_1000"] = rate
    return out


def weighted_median(values: pd.Series, weights: pd.Series) -> float:
    """The median of ``values`` with ``weights`` (NaN values and zero weights left out)."""
    ok = values.notna() & (weights > 0)
    v = values[ok].to_numpy(dtype="float64")
    w = weights[ok].to_numpy(dtype="float64")
    if not len(v):
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, cum[-1] / 2)])


def _median(values: pd.Series) -> float:
    known = values.dropna()
    return float(known.median()) if len(known) else float("nan")


def summary(found: pd.DataFrame) -> pd.DataFrame:
    """Per condition: episodes, complete ones, censored share and the bounds' medians.

    The median length of complete episodes lies between ``lower_median`` and
    ``upper_median`` (the medians of the lower and of the upper bounds, since
    every length lies between its bounds); ``one_poll_share`` is the share of
    complete episodes seen by a single poll (lower bound 0).
    """
    rows = []
    for condition in CONDITIONS:
        mine = found[found["condition"] == condition]
        done = mine[mine["complete"].astype(bool)]
        n = len(done)
        rows.append(
            {
                "condition": condition,
                "episodes": len(mine),
                "complete": n,
                "censored_share": 1 - n / len(mine) if len(mine) else float("nan"),
                "one_poll_share": float((done["lower_minutes"] <= 0).mean()) if n else np.nan,
                "lower_median": _median(done["lower_minutes"]),
                "upper_median": _median(done["upper_minutes"]),
            }
        )
    return pd.DataFrame(rows).set_index("condition")
