"""What was observed behind a research figure: the poll log, its resolution, observed time.

The status topic is a change log, so it cannot tell a station that was looked
at and stayed the same from one nobody looked at. The ``polls/`` table (one
row per snapshot ingest read; docs/outputs.md) can, and every notebook uses it
through this module:

* :func:`resolution` says how finely a recording sees the network: its ok
  polls and the median gap between two of them. It is stated in every
  caption (:func:`caption`) and every metrics file (:meth:`Resolution.metrics`:
  the median gap, one key, so ``dvc metrics show`` stays a few keys wide),
  so no number travels without the sampling behind it.
* :func:`sightings` lists when each station was *seen* (an ok poll listed it);
  :func:`observed_intervals` pairs consecutive sightings into the spans in
  which a change of the station would be recorded (a station that went stale
  in between is not under observation: whatever it does shows as ``back``).
* :func:`station_values` summarises each station over the windows a poll
  listed it in (``polls_seen > 0``), never over values carried forward;
* :func:`hour_spread` spreads an interval over the Paris hours of the day, so
  an event known only to lie between two polls is counted in every hour it may
  have happened in, by the share of the interval in that hour
  (:func:`station_hours` does the same for the observed time itself).

Times are UTC inside; the Paris wall clock is used for hours of the day only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.clock import local_naive, paris_hour
from pipeline.research import maps
from pipeline.research.tables import station_summary, utc

HOUR_NS = 3_600_000_000_000
HOURS = range(24)


@dataclass(frozen=True)
class Resolution:
    """How finely a recording observed the network: ok polls and the gaps between them."""

    polls: int
    gap_median_minutes: float
    gap_max_minutes: float

    def text(self) -> str:
        """The resolution as a caption clause ("311 polls, a median 49 min apart ...")."""
        if self.polls == 0:
            return "no poll observed"
        if self.polls == 1:
            return "observed by 1 poll"
        return (
            f"observed by {self.polls} polls, a median {duration(self.gap_median_minutes)} "
            f"apart (longest gap {duration(self.gap_max_minutes)})"
        )

    def metrics(self) -> dict[str, Any]:
        """The resolution's key in a metrics file (the same in every notebook's file)."""
        return {"poll_gap_median_minutes": self.gap_median_minutes}

    def summary(self) -> dict[str, Any]:
        """The poll log's own metrics: ok polls, median and longest gap (05's observation.json)."""
        return {
            "polls": self.polls,
            "poll_gap_median_minutes": self.gap_median_minutes,
            "poll_gap_max_minutes": self.gap_max_minutes,
        }


def duration(minutes: float) -> str:
    """A gap in words a reader takes in at once: ``49 min``, ``2.5 h``, ``27 h``."""
    if not np.isfinite(minutes):
        return "n/a"
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def poll_times(polls: pd.DataFrame) -> pd.Series:
    """The distinct times at which an ok poll observed the network, sorted (UTC).

    Failed and stale polls saw nothing; two sources polled at the same instant
    are one observation of the network.
    """
    ok = polls.loc[polls["ok"].fillna(False).astype(bool), "observed_at"]
    return utc(ok.drop_duplicates().sort_values().reset_index(drop=True)).rename("observed_at")


def gaps_minutes(polls: pd.DataFrame) -> pd.Series:
    """Minutes between consecutive ok polls (one fewer than the polls)."""
    times = poll_times(polls)
    return times.diff().dropna().dt.total_seconds().reset_index(drop=True) / 60


def resolution(polls: pd.DataFrame) -> Resolution:
    """The recording's resolution: ok polls, median and longest gap between two of them."""
    gaps = gaps_minutes(polls)
    return Resolution(
        polls=len(poll_times(polls)),
        gap_median_minutes=float(gaps.median()) if len(gaps) else float("nan"),
        gap_max_minutes=float(gaps.max()) if len(gaps) else float("nan"),
    )


def caption(start: datetime, end: datetime, what: str, res: Resolution) -> str:
    """A figure's caption: what it shows, the resolution, the period and the attribution."""
    return maps.caption(start, end, f"{what}; {res.text()}")


def polls_per_hour(polls: pd.DataFrame) -> pd.Series:
    """Ok polls per Paris hour of the day over the whole recording (0 where none), 0-23."""
    hours = paris_hour(poll_times(polls))
    return hours.value_counts().reindex(HOURS, fill_value=0).rename("polls").astype("int64")


def sightings(polls: pd.DataFrame) -> pd.DataFrame:
    """(``station_code``, ``seen_at``): every ok poll that listed a station, by station and time."""
    ok = polls[polls["ok"].fillna(False).astype(bool)]
    seen = pd.DataFrame({"station_code": ok["listed"], "seen_at": ok["observed_at"]})
    seen = seen.explode("station_code").dropna(subset=["station_code"])
    seen["station_code"] = seen["station_code"].astype(str)
    seen = seen.drop_duplicates().sort_values(["station_code", "seen_at"], kind="stable")
    return seen.reset_index(drop=True)


def last_seen(seen: pd.DataFrame) -> pd.Series:
    """Each station's last sighting (index ``station_code``)."""
    return seen.groupby("station_code", sort=True)["seen_at"].max()


def observed_intervals(
    seen: pd.DataFrame, stale: pd.DataFrame | None = None, longest: timedelta | None = None
) -> pd.DataFrame:
    """Spans between two consecutive sightings of a station: the time it was under observation.

    A change of the station inside such a span is recorded at its end, with
    the span's start as ``seen_before_at``. A span in which the station went
    stale (a ``stale`` alert at a time in it) is left out: after it the station
    comes ``back``, and what it did in between is not known. So is a span longer
    than ``longest`` (the stream's ``stale_after``): nobody polled for that long
    (an unpolled night), and two changes in it would show as one.

    Args:
        seen: :func:`sightings`.
        stale: ``station_code``, ``at`` of the station's ``stale`` alerts.
        longest: the longest gap between two sightings still under observation.

    Returns:
        ``station_code``, ``after`` (the earlier sighting), ``until`` (the later one).
    """
    prev = seen.groupby("station_code", sort=False)["seen_at"].shift()
    spans = pd.DataFrame(
        {"station_code": seen["station_code"], "after": prev, "until": seen["seen_at"]}
    ).dropna(subset=["after"])
    if longest is not None:
        spans = spans[spans["until"] - spans["after"] <= pd.Timedelta(longest)]
    if stale is None or stale.empty or spans.empty:
        return spans.reset_index(drop=True)
    spans = spans.sort_values("until", kind="stable").reset_index(drop=True)
    spans["span"] = spans.index
    stale = stale.assign(station_code=stale["station_code"].astype(str))
    cuts = pd.merge_asof(
        stale[["station_code", "at"]].sort_values("at", kind="stable"),
        spans[["station_code", "until", "span", "after"]],
        left_on="at",
        right_on="until",
        by="station_code",
        direction="forward",
    )
    broken = cuts.loc[cuts["span"].notna() & (cuts["after"] < cuts["at"]), "span"]
    kept = spans[~spans["span"].isin(broken.astype("int64"))]
    kept = kept.sort_values(["station_code", "until"], kind="stable")
    return kept.drop(columns="span").reset_index(drop=True)


def station_values(station_rows: pd.DataFrame) -> pd.DataFrame:
    """Each station's period values over its *observed* windows (a poll listed it in them).

    A window with ``polls_seen = 0`` holds the state in force carried forward
    from an earlier poll: counting it would weigh each poll by the gap after
    it (the scraper's schedule), so it is left out of every value.

    Returns:
        ``tables.station_summary`` of the observed windows, whose known time
        is ``hours_observed``; ``hours_known`` is the station's whole known
        time (observed or carried forward), ``polls_seen`` the polls that listed it.
    """
    seen = station_rows["polls_seen"].fillna(0) > 0
    out = station_summary(station_rows[seen]).rename(columns={"hours_known": "hours_observed"})
    known = station_rows.groupby("station_code", sort=True)["seconds_known"].sum() / 3600
    out["hours_known"] = known.reindex(out.index)
    return out


def observed_share(station_rows: pd.DataFrame) -> float:
    """The share of the stations' known time that lies in observed windows (``polls_seen > 0``)."""
    known = station_rows["seconds_known"].astype("float64")
    seen = station_rows["polls_seen"].fillna(0) > 0
    return float(known[seen].sum() / known.sum()) if known.sum() > 0 else float("nan")


def _wall_ns(times: pd.Series) -> NDArray[np.int64]:
    """UTC times as Paris wall-clock nanoseconds (hours of the day fall on multiples of 1 h)."""
    return local_naive(pd.Series(times)).to_numpy(dtype="datetime64[ns]").astype("int64")


def hour_overlap(after: pd.Series, until: pd.Series) -> NDArray[np.float64]:
    """Hours of each interval (``after``, ``until``] that fall in each Paris hour of the day.

    Returns:
        An (intervals x 24) array; row sums are the intervals' lengths in hours.
    """
    a, b = _wall_ns(after), _wall_ns(until)
    out = np.zeros((len(a), 24))
    if not len(a):
        return out
    first = np.floor_divide(a, HOUR_NS)
    last = np.floor_divide(np.maximum(b - 1, a), HOUR_NS)
    rows = np.arange(len(a))
    for k in range(int((last - first).max()) + 1):
        start = (first + k) * HOUR_NS
        share = np.clip(np.minimum(b, start + HOUR_NS) - np.maximum(a, start), 0, None)
        np.add.at(out, (rows, (first + k) % 24), share / HOUR_NS)
    return out


def hour_spread(after: pd.Series, until: pd.Series) -> NDArray[np.float64]:
    """Each interval's share in each Paris hour of the day: rows of 24 weights summing to 1.

    An event known only to lie in (``after``, ``until``] is counted in each
    hour by the share of the interval that falls in it (uniform over the
    interval, the least committal choice). An interval of no length counts
    whole in the hour of ``until``.
    """
    hours = hour_overlap(after, until)
    total = hours.sum(axis=1)
    point = total <= 0
    if point.any():
        hours[point] = 0.0
        hours[np.flatnonzero(point), paris_hour(pd.Series(until)[point]).to_numpy()] = 1.0
        total = np.where(point, 1.0, total)
    return hours / total[:, None]


def station_hours(spans: pd.DataFrame) -> pd.Series:
    """Station-hours under observation per Paris hour of the day (0-23).

    From :func:`observed_intervals`: the exposure a rate of changes is divided by.
    """
    hours = hour_overlap(spans["after"], spans["until"]).sum(axis=0)
    return pd.Series(hours, index=pd.Index(HOURS, name="hour"), name="station_hours")
