"""Paris day types of a UTC instant: weekday, Saturday, Sunday or public holiday.

A station's profile follows Paris life (rush hours, weekends, public holidays),
so the climatology and the features use the Paris wall clock
(:mod:`pipeline.clock`: Paris dates and hours); every stored time stays UTC.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates, paris_times, per_instant

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


def day_type(ts: pd.Series) -> pd.Series:
    """0 weekday, 1 Saturday, 2 Sunday or public holiday (Paris date)."""
    return per_instant(ts, _day_type).astype("int8")


def _day_type(ts: pd.Series) -> np.ndarray:
    dow = paris_times(ts).dt.dayofweek.to_numpy()
    holiday = paris_dates(ts).isin(HOLIDAYS).to_numpy()
    out = np.where(dow == 5, SATURDAY, np.where(dow == 6, SUNDAY_HOLIDAY, WEEKDAY))
    out[holiday] = SUNDAY_HOLIDAY
    return out.astype("int8")
