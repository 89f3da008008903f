"""Past-only feature rows on hand-made observations: the as-of join, the clock, the guard."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.clock import paris_midnight
from pipeline.forecast import climatology, features, history
from pipeline.forecast.calendar import SATURDAY, SUNDAY_HOLIDAY, WEEKDAY, day_type
from tests.unit.forecast.frames import observations

OBS = observations(
    [
        ("A", "2022-05-16T06:00Z", 5),  # Monday 08:00 in Paris
        ("B", "2022-05-16T06:00Z", 9),
        ("A", "2022-05-16T07:00Z", 8),
        ("B", "2022-05-16T07:00Z", 9),
        ("A", "2022-05-16T08:00Z", 2),  # exactly at the second issue time below
    ]
)


def build(requests: pd.DataFrame, clim=None) -> pd.DataFrame:
    stations = history.station_table(OBS)
    hist = history.prepare(OBS, stations, history.neighbour_pairs(stations))
    return features.build(hist, requests, clim, OBS["observed_at"])


def requests(*rows: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_code": [r[0] for r in rows],
            "issued_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "horizon_min": [r[2] for r in rows],
        }
    )


def test_a_request_sees_the_last_observation_strictly_before_its_issue_time():
    f = build(requests(("A", "2022-05-16T07:30Z", 60), ("A", "2022-05-16T08:00Z", 15)))
    assert f["last_bikes"].tolist() == [8.0, 8.0]  # 08:00's 2 bikes are not seen at 08:00
    assert f["last_obs_at"].tolist() == [pd.Timestamp("2022-05-16T07:00Z")] * 2
    assert f["age_min"].tolist() == [30.0, 60.0]
    assert f["lead_min"].tolist() == [90.0, 75.0]
    assert (
        f["target_at"].tolist()
        == pd.to_datetime(["2022-05-16T08:30Z", "2022-05-16T08:15Z"], utc=True).tolist()
    )
    assert f["delta_last"].tolist() == [3.0, 3.0]  # 5 -> 8 between its last two polls
    assert f["nbr_n"].tolist() == [1.0, 1.0] and f["nbr_fill"].tolist() == [9 / 20, 9 / 20]


def test_a_station_not_yet_observed_has_no_state():
    f = build(requests(("B", "2022-05-16T05:00Z", 15), ("Z", "2022-05-16T09:00Z", 15)))
    assert f["last_bikes"].isna().all() and f["last_obs_at"].isna().all()


def test_the_target_hour_and_day_type_are_on_the_paris_clock():
    f = build(requests(("A", "2022-05-20T21:50Z", 30), ("A", "2022-05-28T08:00Z", 60)))
    # Friday 23:50 + 30 min is Saturday 00:20 in Paris; 28 May 10:00 Paris is a Saturday
    assert f["hour_target"].tolist() == pytest.approx([20 / 60, 11.0])
    assert f["daytype_target"].tolist() == [SATURDAY, SATURDAY]
    holiday = pd.Series(pd.to_datetime(["2022-05-26T10:00Z", "2022-05-25T10:00Z"], utc=True))
    assert day_type(holiday).tolist() == [SUNDAY_HOLIDAY, WEEKDAY]  # Ascension Day


def test_missed_polls_count_the_polls_that_happened_without_the_station():
    stations = history.station_table(OBS)
    hist = history.prepare(OBS, stations, history.neighbour_pairs(stations))
    polls = pd.Series(pd.to_datetime(["2022-05-16T07:00Z", "2022-05-16T07:40Z"], utc=True))
    f = features.build(hist, requests(("B", "2022-05-16T07:50Z", 15)), None, polls)
    assert f["missed_polls_min"].tolist() == [40.0]  # B's last sighting 07:00, a poll at 07:40


def training_climatology() -> dict[date, climatology.Climatology]:
    obs = observations(
        [
            ("A", "2022-05-16T06:00Z", 4),
            ("A", "2022-05-17T06:00Z", 10),
            ("A", "2022-05-18T06:00Z", 16),
        ]
    )
    parts = climatology.parts(obs)
    days = [date(2022, 5, 16), date(2022, 5, 17), date(2022, 5, 18)]
    return {d: climatology.fit(parts, days[:i], paris_midnight(d)) for i, d in enumerate(days) if i}


def test_a_training_row_takes_the_climatology_of_the_days_before_its_issue_day():
    per_day = training_climatology()
    rows = pd.DataFrame(
        {
            "station_code": ["A"] * 4,
            "issued_at": pd.to_datetime(
                [
                    "2022-05-16T05:45Z",
                    "2022-05-17T05:45Z",
                    "2022-05-18T05:45Z",
                    "2022-05-17T21:50Z",
                ],
                utc=True,
            ),
            "horizon_min": [15, 15, 15, 30],
        }
    )
    rows["target_at"] = rows["issued_at"] + pd.to_timedelta(rows["horizon_min"], unit="m")
    rows["last_obs_at"] = rows["issued_at"] - pd.Timedelta(hours=1)
    rows["last_bikes"] = 5.0
    features.add_climatology(rows, per_day)
    # 16 May has no day before it; 17 May sees 16 May (4 bikes at 08h); 18 May sees both
    assert np.isnan(rows.loc[0, "clim_target"])
    assert rows.loc[1, "clim_target"] == pytest.approx(4.0)
    assert rows.loc[2, "clim_target"] == pytest.approx(7.0)
    # issued 23:50 on the 17th (Paris), target 00:20 on the 18th: the issue day decides
    assert rows.loc[3, "clim_target"] == pytest.approx(4.0)
    features.check_past_only(rows, per_day)


def test_the_guard_refuses_a_climatology_fitted_after_the_issue_time():
    per_day = training_climatology()
    rows = pd.DataFrame(
        {
            "station_code": ["A"],
            "issued_at": pd.to_datetime(["2022-05-17T05:45Z"], utc=True),
            "last_obs_at": pd.to_datetime(["2022-05-17T05:00Z"], utc=True),
        }
    )
    rows["target_at"] = rows["issued_at"]
    leaky = {date(2022, 5, 17): per_day[date(2022, 5, 18)]}  # fitted until 18 May
    with pytest.raises(AssertionError, match="climatology for issue day 2022-05-17 fitted until"):
        features.check_past_only(rows, leaky)
    with pytest.raises(AssertionError, match="first issued_at"):
        features.check_past_only(rows, per_day[date(2022, 5, 18)])
