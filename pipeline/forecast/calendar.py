"""Paris calendar of a UTC instant: hour of day and day type (UTC in, Europe/Paris out).

A station's profile follows Paris life (rush hours, weekends, public holidays),
so the climatology and the features use the Paris wall clock; every stored
time stays UTC.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

PARIS = ZoneInfo("Europe/Paris")
# French public holidays around the recordings; a holiday counts as a Sunday.
HOLIDAYS: frozenset[date] = frozenset(
    {
        date(2022, 5, 1),
        date(2022, 5, 8),
        date(2022, 5, 26),
        date(2022, 6, 6),
        date(2022, 7, 14),
        date(2022, 8, 15),
        date(2022, 11, 1),
        date(2022, 11, 11),
        date(2022, 12, 25),
    }
)
WEEKDAY, SATURDAY, SUNDAY_HOLIDAY = 0, 1, 2
DAY_TYPES: dict[int, str] = {WEEKDAY: "weekday", SATURDAY: "Saturday", SUNDAY_HOLIDAY: "Sunday"}


def _per_instant(ts: pd.Series, fn: object) -> pd.Series:
    """``fn`` of each distinct instant, spread back to ``ts`` (request rows share few times)."""
    if ts.dt.tz is None:
        raise ValueError("naive timestamps: UTC expected")
    codes, uniques = pd.factorize(ts, sort=False)
    if (codes < 0).any():
        raise ValueError("missing timestamps (NaT): no Paris hour or day")
    values = np.asarray(fn(pd.Series(uniques)))  # type: ignore[operator]
    return pd.Series(values[codes] if len(codes) else values[:0], index=ts.index)


def paris(ts: pd.Series) -> pd.Series:
    """UTC timestamps as Europe/Paris ones; naive input is refused (UTC inside)."""
    if ts.dt.tz is None:
        raise ValueError("naive timestamps: UTC expected")
    return ts.dt.tz_convert(PARIS)


def paris_day(ts: pd.Series) -> pd.Series:
    """The Paris calendar date of each UTC timestamp (``datetime.date`` values)."""
    return _per_instant(ts, _paris_day).astype(object)


def _paris_day(ts: pd.Series) -> pd.Series:
    local = paris(ts).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    uniq, inverse = np.unique(local, return_inverse=True)
    dates = np.array([d.item() for d in uniq] + [None], dtype=object)[:-1]
    return pd.Series(dates[inverse.reshape(-1)], index=ts.index, dtype=object)


def day_type(ts: pd.Series) -> pd.Series:
    """0 weekday, 1 Saturday, 2 Sunday or public holiday (Paris date)."""
    return _per_instant(ts, _day_type).astype("int8")


def _day_type(ts: pd.Series) -> pd.Series:
    loc = paris(ts)
    dow = loc.dt.dayofweek.to_numpy()
    holiday = paris_day(ts).isin(HOLIDAYS).to_numpy()
    out = np.where(dow == 5, SATURDAY, np.where(dow == 6, SUNDAY_HOLIDAY, WEEKDAY))
    out[holiday] = SUNDAY_HOLIDAY
    return pd.Series(out.astype("int8"), index=ts.index)


def paris_hour(ts: pd.Series, fractional: bool = False) -> pd.Series:
    """Paris hour of day: an int 0-23, or a float with the minutes when ``fractional``."""
    out = _per_instant(ts, lambda u: _paris_hour(u, fractional))
    return out.astype(float) if fractional else out.astype("int8")


def _paris_hour(ts: pd.Series, fractional: bool) -> pd.Series:
    loc = paris(ts)
    if fractional:
        return loc.dt.hour + loc.dt.minute / 60.0 + loc.dt.second / 3600.0
    return loc.dt.hour.astype("int8")


def paris_midnight(d: date) -> pd.Timestamp:
    """The start of a Paris day, as a UTC instant."""
    return pd.Timestamp(d).tz_localize(PARIS).tz_convert("UTC")
