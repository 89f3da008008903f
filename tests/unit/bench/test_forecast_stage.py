"""The forecast bench times issue times inside the recording, never after its end."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from bench.forecast_stage import last_whole_day

DAYS = [date(2022, 5, 24), date(2022, 5, 25), date(2022, 5, 26)]


def test_a_last_date_holding_only_the_hours_after_midnight_is_not_the_day_timed():
    # the May recording: last observation 25 May 23:38 UTC = 26 May 01:38 Paris
    assert last_whole_day(DAYS, pd.Timestamp("2022-05-25T23:38:06Z")) == date(2022, 5, 25)


def test_a_last_day_recorded_past_its_last_issue_time_is_the_day_timed():
    assert last_whole_day(DAYS, pd.Timestamp("2022-05-26T20:00:00Z")) == date(2022, 5, 26)


def test_a_recording_ending_before_any_whole_day_is_a_clear_error():
    with pytest.raises(ValueError, match="no day of the recording reaches 21:45"):
        last_whole_day(DAYS[:1], pd.Timestamp("2022-05-24T12:00:00Z"))
