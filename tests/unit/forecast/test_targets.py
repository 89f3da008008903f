"""Which targets are observed: each poll matched to one grid instant, one row per horizon."""

from __future__ import annotations

import pandas as pd

from pipeline.forecast import targets

STEP = pd.Timedelta(minutes=15)


def utc(*texts: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts), utc=True))


def test_each_poll_goes_to_its_nearest_grid_instant_and_each_instant_to_one_poll():
    polls = utc(
        "2022-05-16T08:02:00Z",  # -> 08:00 (2 min off)
        "2022-05-16T08:06:00Z",  # -> 08:00 too, but further: dropped
        "2022-05-16T08:23:00Z",  # -> 08:30 (7 min off: within half a step)
        "2022-05-16T09:52:00Z",  # -> 09:45 is 7 min, 10:00 is 8: 09:45
    )
    g = targets.poll_grid(polls, STEP)
    assert g["target_at"].dt.strftime("%H:%M").tolist() == ["08:00", "08:30", "09:45"]
    assert g["target_obs_at"].dt.strftime("%H:%M:%S").tolist() == [
        "08:02:00",
        "08:23:00",
        "09:52:00",
    ]
    assert ((g["target_obs_at"] - g["target_at"]).abs() <= STEP / 2).all()


def test_scored_rows_align_the_truth_of_the_matched_poll_with_each_horizon():
    obs = pd.DataFrame(
        {
            "station_code": ["A", "B", "A"],
            "observed_at": pd.to_datetime(
                ["2022-05-16T08:02Z", "2022-05-16T08:02Z", "2022-05-16T09:01Z"], utc=True
            ),
            "bikes_available": [3, 7, 4],
            "docks_available": [17, 13, 16],
        }
    )
    rows = targets.scored(obs, obs["observed_at"], STEP, horizons=(15, 60))
    assert len(rows) == 3 * 2  # every station of each matched poll, per horizon
    a9 = rows[(rows["station_code"] == "A") & (rows["target_at"] == "2022-05-16T09:00Z")]
    a9 = a9.sort_values("horizon_min")
    assert a9["horizon_min"].tolist() == [15, 60]
    assert a9["issued_at"].dt.strftime("%H:%M").tolist() == ["08:45", "08:00"]
    assert a9["bikes_target"].tolist() == [4, 4] and a9["docks_target"].tolist() == [16, 16]
    assert (a9["target_obs_at"] == pd.Timestamp("2022-05-16T09:01Z")).all()
    later = targets.scored(obs, obs["observed_at"], STEP, start=pd.Timestamp("2022-05-16T08:30Z"))
    assert set(later["station_code"]) == {"A"}  # the 08:00 targets are before the window
    none = targets.scored(obs.iloc[:0], obs["observed_at"].iloc[:0], STEP)
    assert none.empty and "bikes_target" in none.columns
