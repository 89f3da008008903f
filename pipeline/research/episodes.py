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


# --- episodes read off the polls themselves (any resolution, including a thinned one) -----

SIGHTED: tuple[str, ...] = ("station_code", "seen_at", "poll", "condition")


def _condition(states: pd.DataFrame) -> pd.Series:
    """Each state's condition by the vocabulary's tests, in its priority order."""
    installed, renting, returning = (
        states[c].fillna(False).astype(bool) for c in ("is_installed", "is_renting", "is_returning")
    )
    tests = {
        "out_of_service": vocabulary.is_out_of_service(installed, renting, returning),
        "empty": vocabulary.is_empty(states["bikes_available"].astype("float64")),
        "full": vocabulary.is_full(states["docks_available"].astype("float64")),
    }
    out = pd.Series("normal", index=states.index, dtype="object")
    for condition in reversed(vocabulary.CONDITIONS[:-1]):  # the first in the order wins
        out = out.mask(tests[condition].fillna(False).astype(bool), condition)
    return out


def sighted(status: pd.DataFrame, polls: pd.DataFrame) -> pd.DataFrame:
    """Each station's condition at every ok poll that listed it: the record in force then.

    The status topic holds a station's record when it changed (and heartbeats), so
    its state at a poll is its last record at or before the poll (an as-of join).

    Returns:
        ``SIGHTED``: ``poll`` numbers the distinct ok poll times 0, 1, ... in
        order, so two sightings of a station are consecutive polls when their
        numbers differ by one.
    """
    seen = observation.sightings(polls)
    times = observation.poll_times(polls)
    seen["poll"] = pd.Index(times).get_indexer(seen["seen_at"])
    keep = ["station_code", "observed_at", "bikes_available", "docks_available"]
    keep += ["is_installed", "is_renting", "is_returning"]
    records = status[keep].assign(station_code=status["station_code"].astype(str))
    joined = pd.merge_asof(
        seen.sort_values("seen_at", kind="stable"),
        records.sort_values("observed_at", kind="stable"),
        left_on="seen_at",
        right_on="observed_at",
        by="station_code",
        direction="backward",
    ).dropna(subset=["observed_at"])
    joined["condition"] = _condition(joined)
    joined = joined.sort_values(["station_code", "seen_at"], kind="stable", ignore_index=True)
    return joined[list(SIGHTED)]


def thinned(polls: pd.DataFrame, every_minutes: float) -> pd.DataFrame:
    """The polls a coarser recording would have: each ``every_minutes`` after the last kept.

    The first ok poll is kept, failed polls are dropped; the 5-minute recording
    thinned to the hourly recording's median gap is the same days and stations
    seen as an hourly recording sees them.
    """
    ok = polls[polls["ok"].fillna(False).astype(bool)].sort_values("observed_at", kind="stable")
    kept: list[int] = []
    last: pd.Timestamp | None = None
    step = pd.Timedelta(minutes=every_minutes)
    for index, when in ok["observed_at"].items():
        if last is None or when - last >= step:
            kept.append(index)
            last = when
    return ok.loc[kept]


def from_sightings(
    states: pd.DataFrame, max_gap_minutes: float, conditions: tuple[str, ...] = CONDITIONS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Episodes with bounds, and the spans under observation, from conditions at polls.

    A station is *under observation* from one sighting to the next when the next
    is the network's very next ok poll (no poll in between missed it) and comes
    at most ``max_gap_minutes`` later (the stream's stale rule: a longer silence,
    such as an unpolled night, is not observed). An episode is a run of sightings
    in one condition; it began in the span before its first sighting and ended in
    the span after its last, so its length lies between ``lower_minutes`` (last
    minus first sighting in it) and ``upper_minutes`` (first sighting out of it
    minus last sighting before it). An end whose span is not under observation,
    or the first or last sighting of a station, censors it (only the lower bound
    is known), as :func:`episodes` does with the stream's alerts.

    Args:
        states: :func:`sighted` (any subset of polls, e.g. :func:`thinned`'s,
            renumbered: ``poll`` consecutive within the polls kept).
        max_gap_minutes: the longest span still under observation.
        conditions: the conditions to extract.

    Returns:
        (episodes with the columns of :func:`episodes` that polls can give:
        ``station_code``, ``condition``, ``start_after``, ``start``,
        ``end_after``, ``end``, ``lower_minutes``, ``upper_minutes``,
        ``left_censored``, ``right_censored``, ``complete``; spans with
        ``station_code``, ``after``, ``until`` as ``observation.observed_intervals``).
    """
    rows = states.sort_values(["station_code", "seen_at"], kind="stable", ignore_index=True)
    station = rows["station_code"]
    same = station.shift() == station
    gap = _minutes(rows["seen_at"] - rows["seen_at"].shift())
    # the span ending at each sighting: under observation, or not (first sighting, a gap)
    observed = same & (rows["poll"] - rows["poll"].shift() == 1) & (gap <= max_gap_minutes)
    new_run = ~same | (rows["condition"] != rows["condition"].shift()) | ~observed
    run = new_run.cumsum()
    firsts = rows.groupby(run, sort=False).head(1).index
    lasts = rows.groupby(run, sort=False).tail(1).index
    out = pd.DataFrame(
        {
            "station_code": station[firsts].to_numpy(),
            "condition": rows.loc[firsts, "condition"].to_numpy(),
            "start": rows.loc[firsts, "seen_at"].to_numpy(),
            "end_after": rows.loc[lasts, "seen_at"].to_numpy(),
        }
    )
    begun = observed[firsts].to_numpy()  # the span before the first sighting was observed
    before = rows["seen_at"].shift()[firsts].to_numpy()
    ends = observed.shift(-1, fill_value=False).astype(bool)[lasts]
    after_last = rows["seen_at"].shift(-1)[lasts].where(ends)
    out["start_after"] = pd.Series(before).where(begun).to_numpy()
    out["end"] = after_last.to_numpy()
    out["left_censored"] = ~begun
    out["right_censored"] = out["end"].isna().to_numpy()
    out["complete"] = ~(out["left_censored"] | out["right_censored"])
    for column in ("start_after", "start", "end_after", "end"):
        out[column] = pd.to_datetime(out[column], utc=True)
    out["lower_minutes"] = _minutes(out["end_after"] - out["start"])
    out["upper_minutes"] = _minutes(out["end"] - out["start_after"]).where(out["complete"])
    out = out[out["condition"].isin(conditions)]
    out = out.sort_values(["start", "station_code"], kind="stable", ignore_index=True)
    spans = pd.DataFrame(
        {
            "station_code": station[observed],
            "after": rows["seen_at"].shift()[observed],
            "until": rows["seen_at"][observed],
        }
    ).reset_index(drop=True)
    columns = ["station_code", "condition", "start_after", "start", "end_after", "end"]
    columns += ["lower_minutes", "upper_minutes", "left_censored", "right_censored", "complete"]
    return out[columns], spans
