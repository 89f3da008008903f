"""Leakage: change everything observed at or after issued_at; the forecasts do not move.

On a real slice (two days of the open-data history as the stream's tables):
every status record and poll at or after the issue time gets random counts,
flipped flags and moved places, and a fake poll exactly at the issue time
lists every station with 99 bikes. Single issue times (the live path) and a
batch of issue times (the predict path) must give bit-identical rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.clock import PARIS
from pipeline.forecast import bundle, features, observations, predict
from pipeline.research.tables import read_table

TIMES = ["2022-05-13 06:45", "2022-05-13 09:15", "2022-05-13 11:45"]  # Paris


def perturb(status: pd.DataFrame, polls: pd.DataFrame, t: pd.Timestamp, seed: int):
    rng = np.random.default_rng(seed)
    status, polls = status.copy(), polls.copy()
    late = status["observed_at"] >= t
    n = int(late.sum())
    status.loc[late, "bikes_available"] = rng.integers(0, 60, n)
    status.loc[late, "docks_available"] = rng.integers(0, 60, n)
    status.loc[late, "ebike_available"] = rng.integers(0, 30, n)
    status.loc[late, "is_renting"] = ~status.loc[late, "is_renting"].astype(bool)
    status.loc[late, "lat"] = status.loc[late, "lat"] + 0.01
    fake = status.drop_duplicates("station_code").copy()
    fake["observed_at"], fake["bikes_available"] = t, 99
    status = pd.concat([status, fake], ignore_index=True)
    polls.loc[polls["observed_at"] >= t, "listed"] = pd.Series(
        [list(x)[::2] for x in polls.loc[polls["observed_at"] >= t, "listed"]],
        index=polls.index[polls["observed_at"] >= t],
        dtype=object,
    )
    every = sorted(fake["station_code"])
    polls = pd.concat([polls, pd.DataFrame({"observed_at": [t], "ok": [True], "listed": [every]})])
    return status, polls.reset_index(drop=True)


def forecasts(status, polls, times, member):
    obs = observations.observations(status, polls)
    return predict.issue(obs, observations.poll_times(obs)["observed_at"], times, member)


@pytest.fixture(scope="module")
def tables(two_days):
    cols = ["station_code", "observed_at", *observations.STATE]
    return read_table(two_days, "status", cols), read_table(two_days, "polls")


@pytest.mark.slow  # forecasts every station of the real slice six times per issue time
@pytest.mark.parametrize("local", TIMES)
def test_forecasts_ignore_everything_at_or_after_issue_time(tables, tiny_model, local):
    status, polls = tables
    t = pd.Timestamp(local, tz=PARIS).tz_convert("UTC")
    members, _ = bundle.load(tiny_model)
    member = bundle.member_for(members, t)
    assert member is not None
    before = forecasts(status, polls, [t], member)
    assert len(before) > 3 * 1000 and before["bikes_pred"].notna().all()
    batch = [t - pd.Timedelta(hours=2), t - pd.Timedelta(minutes=15), t]
    batch_before = forecasts(status, polls, batch, member)
    changed_status, changed_polls = perturb(status, polls, t, seed=len(local))
    after = forecasts(changed_status, changed_polls, [t], member)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    batch_after = forecasts(changed_status, changed_polls, batch, member)
    pd.testing.assert_frame_equal(batch_before, batch_after, check_exact=True)
    # the batch's row for t is the single-issue row: one path for predict and live
    last = batch_after[batch_after["issued_at"] == t].reset_index(drop=True)
    pd.testing.assert_frame_equal(last, after, check_exact=True)


def test_the_guard_refuses_an_observation_at_issue_time_or_a_later_climatology(tiny_model):
    members, _ = bundle.load(tiny_model)
    t = members[0].cutoff
    rows = pd.DataFrame({"issued_at": [t], "last_obs_at": [t], "target_at": [t]})
    with pytest.raises(AssertionError, match="at or after issued_at"):
        features.check_past_only(rows, None)
    rows["last_obs_at"] = t - pd.Timedelta(minutes=1)
    features.check_past_only(rows, members[0].clim)  # fitted until t: allowed
    with pytest.raises(AssertionError, match="climatology fitted until"):
        features.check_past_only(rows, members[-1].clim)  # fitted on the day of t
    day = t.tz_convert(PARIS).date()
    features.check_past_only(rows, {day: members[0].clim})  # per issue day, fitted before it
    with pytest.raises(AssertionError, match=f"climatology for issue day {day} fitted until"):
        features.check_past_only(rows, {day: members[-1].clim})
