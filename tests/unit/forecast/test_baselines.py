"""Persistence and climatology on small hand-written cases."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.clock import paris_midnight
from pipeline.forecast import baselines, climatology, scoring


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def obs_frame(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_code": [r[0] for r in rows],
            "observed_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "bikes_available": [r[2] for r in rows],
            "docks_available": [r[3] for r in rows],
        }
    )


def test_persistence_is_the_last_observation_before_issue_and_none_across_a_stale_cut():
    obs = obs_frame([("A", "2022-05-16T08:00Z", 5, 10), ("A", "2022-05-16T11:00Z", 0, 15)])
    rows = pd.DataFrame(
        {
            "station_code": ["A"] * 5,
            "issued_at": [
                utc("2022-05-16T07:45"),
                utc("2022-05-16T09:00"),
                utc("2022-05-16T10:30"),
                utc("2022-05-16T11:00"),
                utc("2022-05-16T11:15"),
            ],  # fmt: skip
        }
    )
    got = baselines.persistence(scoring.last_state(obs, rows), pd.Timedelta(hours=2))
    assert got["bikes"].isna().tolist() == [True, False, True, True, False]
    assert got.loc[1, "bikes"] == 5 and got.loc[1, "p_empty"] == 0  # 60 min old: in force
    # 10:30 is 150 min after 08:00: beyond the 2 h limit, no forecast (a guess, not a state)
    # 11:00 itself is not seen at 11:00 (strictly before), so 08:00 again: 180 min, stale
    assert got.loc[4, "bikes"] == 0 and got.loc[4, "p_empty"] == 1 and got.loc[4, "docks"] == 15


def test_climatology_of_a_station_seen_on_weekdays_only():
    # Monday 16 May 2022, Paris 08:xx (06:xx UTC) and 18:xx (16:xx UTC); never on a weekend
    obs = obs_frame(
        [
            ("A", "2022-05-16T06:10Z", 4, 16),
            ("A", "2022-05-16T06:40Z", 6, 14),
            ("A", "2022-05-17T06:20Z", 8, 12),
            ("A", "2022-05-16T16:30Z", 20, 0),
        ]
    )
    obs["station_code"] = obs["station_code"].astype(str)
    parts = climatology.parts(obs)
    clim = climatology.fit(
        parts, [date(2022, 5, 16), date(2022, 5, 17)], paris_midnight(date(2022, 5, 18))
    )
    targets = pd.Series(
        [
            utc("2022-05-18T06:30"),
            utc("2022-05-21T06:30"),
            utc("2022-05-21T16:30"),
            utc("2022-05-21T11:00"),
        ]  # fmt: skip
    )
    got = baselines.climatology(clim, pd.Series(["A"] * 4), targets)
    assert got["bikes"].tolist() == pytest.approx([6.0, 6.0, 20.0, 9.5])
    # a Saturday at 08h: no Saturday cell, so the station's 08h mean over all day types;
    # 13h was never seen: the station's overall mean (4 + 6 + 8 + 20) / 4
    assert got["p_full"].tolist() == pytest.approx([0.0, 0.0, 1.0, 0.25])


def test_climatology_leaves_out_days_it_is_not_fitted_on():
    obs = obs_frame([("A", "2022-05-16T06:10Z", 4, 16), ("A", "2022-05-17T06:10Z", 10, 10)])
    parts = climatology.parts(obs)
    first_only = climatology.fit(parts, [date(2022, 5, 16)], paris_midnight(date(2022, 5, 17)))
    got = baselines.climatology(first_only, pd.Series(["A"]), pd.Series([utc("2022-05-18T06:10")]))
    assert got["bikes"].tolist() == [4.0]


def test_smoothed_persistence_learns_the_chance_an_empty_station_stays_empty():
    table = baselines.fit_smoothed_persistence(
        pd.Series([60, 60, 60, 60, 15]),
        pd.Series([True, True, True, False, True]),
        pd.Series([True, False, True, False, True]),
    )
    got = baselines.smoothed_persistence(
        table, pd.Series([60, 60, 15, 30]), pd.Series([True, False, True, True])
    )
    assert got.tolist()[:3] == pytest.approx([2 / 3, 0.0, 1.0])
    assert pd.isna(got.iloc[3])  # no row of that horizon: no probability
