"""Paris day types of a UTC instant: weekday, Saturday, Sunday or public holiday.

A station's profile follows Paris life (rush hours, weekends, public holidays),
so the climatology and the features use the Paris wall clock
(:mod:`pipeline.clock`: Paris dates and hours); every stored time stays UTC.
French public holidays come from their rule (fixed dates, and Easter Monday,
Ascension and Whit Monday from the date of Easter), not from a list: each
recording's year is covered (the 5-minute recording's 1 November 2024 is one).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates, paris_times, per_instant

WEEKDAY, SATURDAY, SUNDAY_HOLIDAY = 0, 1, 2
DAY_TYPES: dict[int, str] = {WEEKDAY: "weekday", SATURDAY: "Saturday", SUNDAY_HOLIDAY: "Sunday"}
FIXED: tuple[tuple[int, int], ...] = (
    (1, 1),  # New Year's Day
    (5, 1),  # Labour Day
    (5, 8),  # Victory in Europe Day
    (7, 14),  # Bastille Day
    (8, 15),  # Assumption
    (11, 1),  # All Saints' Day
    (11, 11),  # Armistice Day
    (12, 25),  # Christmas
)
AFTER_EASTER: tuple[int, ...] = (1, 39, 50)  # Easter Monday, Ascension, Whit Monday


def easter(year: int) -> date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm (Meeus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def holidays(year: int) -> frozenset[date]:
    """The French public holidays of ``year`` (metropolitan France)."""
    fixed = {date(year, month, day) for month, day in FIXED}
    moving = {easter(year) + timedelta(days=n) for n in AFTER_EASTER}
    return frozenset(fixed | moving)


def is_holiday(day: date) -> bool:
    """Whether ``day`` is a French public holiday."""
    return day in holidays(day.year)


def day_type(ts: pd.Series) -> pd.Series:
    """0 weekday, 1 Saturday, 2 Sunday or public holiday (Paris date)."""
    return per_instant(ts, _day_type).astype("int8")


def _day_type(ts: pd.Series) -> np.ndarray:
    dow = paris_times(ts).dt.dayofweek.to_numpy()
    holiday = np.array([is_holiday(d) for d in paris_dates(ts)], dtype=bool)
    out = np.where(dow == 5, SATURDAY, np.where(dow == 6, SUNDAY_HOLIDAY, WEEKDAY))
    out[holiday] = SUNDAY_HOLIDAY
    return out.astype("int8")
