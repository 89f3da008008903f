"""French public holidays from their rule, and the day types they give."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipeline.forecast.calendar import SUNDAY_HOLIDAY, WEEKDAY, day_type, easter, holidays


def test_easter_of_known_years():
    # published dates: 2022-04-17, 2024-03-31, 2025-04-20, 2038-04-25 (the latest possible)
    assert easter(2022) == date(2022, 4, 17)
    assert easter(2024) == date(2024, 3, 31)
    assert easter(2025) == date(2025, 4, 20)
    assert easter(2038) == date(2038, 4, 25)


def test_the_holidays_of_both_recordings_years():
    assert {date(2022, 5, 26), date(2022, 5, 8), date(2022, 6, 6)} <= holidays(2022)  # Ascension
    assert {date(2024, 11, 1), date(2024, 11, 11), date(2024, 4, 1)} <= holidays(2024)
    assert date(2024, 11, 4) not in holidays(2024)
    assert len(holidays(2024)) == 11


def test_all_saints_day_2024_is_a_sunday_type_day_on_the_paris_clock():
    # Friday 1 Nov 2024 00:30 Paris is 31 Oct 23:30 UTC: the Paris date decides
    ts = pd.Series(pd.to_datetime(["2024-10-31T22:59Z", "2024-10-31T23:30Z", "2024-11-04T08:00Z"],
                                  utc=True))  # fmt: skip
    assert day_type(ts).tolist() == [WEEKDAY, SUNDAY_HOLIDAY, WEEKDAY]
