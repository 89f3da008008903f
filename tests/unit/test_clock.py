"""The one clock: Paris dates and hours of UTC instants, microseconds, the zone setting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from pipeline import clock
from pipeline.settings.clock import ClockSettings
from pipeline.settings.declare import SettingsError


def test_the_zone_is_the_params_yaml_setting():
    assert clock.PARIS.key == ClockSettings.build().timezone == "Europe/Paris"
    with pytest.raises(SettingsError, match="unknown time zone 'Mars/Olympus'"):
        ClockSettings.build(params={"base": {"timezone": "Mars/Olympus"}})


def test_a_paris_date_is_not_the_utc_date():
    late = datetime(2022, 5, 12, 22, 30, tzinfo=UTC)  # 00:30 on the 13th in Paris (UTC+2)
    assert clock.paris_date(late) == date(2022, 5, 13)
    assert clock.paris_date(datetime(2022, 12, 31, 22, 30, tzinfo=UTC)) == date(2022, 12, 31)
    with pytest.raises(ValueError, match="naive"):
        clock.paris_date(datetime(2022, 5, 12, 22, 30))  # noqa: DTZ001 - the naive input refused


def test_paris_hours_and_dates_of_a_series_follow_daylight_saving():
    ts = pd.Series(
        pd.to_datetime(
            ["2022-03-27T00:30Z", "2022-03-27T01:30Z", "2022-03-27T01:30Z", "2022-10-30T00:45Z"]
        )
    )
    assert list(clock.paris_hour(ts)) == [1, 3, 3, 2]  # the spring jump skips 02:xx
    assert list(clock.paris_hour(ts, fractional=True)) == [1.5, 3.5, 3.5, 2.75]
    assert list(clock.paris_dates(ts)) == [date(2022, 3, 27)] * 3 + [date(2022, 10, 30)]
    with pytest.raises(ValueError, match="naive"):
        clock.paris_hour(pd.Series(pd.to_datetime(["2022-03-27 00:30"])))


def test_paris_midnight_is_a_utc_instant():
    assert clock.paris_midnight(date(2022, 5, 19)) == pd.Timestamp("2022-05-18T22:00Z")
    assert clock.paris_midnight(date(2022, 1, 19)) == pd.Timestamp("2022-01-18T23:00Z")
    assert clock.paris_dates(pd.Series([clock.paris_midnight(date(2022, 5, 19))]))[0] == date(
        2022, 5, 19
    )


def test_local_naive_reads_the_paris_wall_clock():
    times = pd.DatetimeIndex(["2022-05-12T10:00Z", "2022-05-12T23:15Z"])
    assert list(clock.local_naive(times).astype(str)) == [
        "2022-05-12 12:00:00",
        "2022-05-13 01:15:00",
    ]


def test_microseconds_round_trip_exactly():
    at = datetime(2022, 5, 12, 10, 22, 18, 123457, tzinfo=UTC)
    us = clock.to_us(at)
    assert us % clock.US == 123457 and clock.from_us(us) == at
    assert clock.to_us(at + timedelta(microseconds=1)) == us + 1  # no float rounding
    assert clock.from_us(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert clock.from_us(-clock.US) == datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert -clock.FAR_US < clock.to_us(datetime(1, 1, 1, tzinfo=UTC)) < 0 < us < clock.FAR_US
