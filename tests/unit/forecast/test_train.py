"""Training: rolling-origin cut-offs, what each training row may see, the same bytes twice."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.clock import paris_midnight
from pipeline.forecast import climatology, model, train
from pipeline.settings.forecast import TrainSettings
from tests.unit.forecast.frames import observations

DAYS = [date(2022, 5, 16), date(2022, 5, 17), date(2022, 5, 18)]


def test_cutoffs_are_the_last_days_with_a_day_before_them_and_the_day_after_the_last():
    got = train.cutoffs(DAYS, rolling_days=5)
    assert got == [
        paris_midnight(DAYS[1]),
        paris_midnight(DAYS[2]),
        paris_midnight(date(2022, 5, 19)),
    ]
    assert train.cutoffs(DAYS, rolling_days=1) == got[1:]
    assert train.cutoffs(DAYS, rolling_days=0) == got[2:]  # the final member only


def three_days(bump_last_day: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two stations polled every 15 minutes over 16-18 May; the last day shifted by a bump."""
    times = pd.date_range("2022-05-16T00:00Z", "2022-05-18T21:45Z", freq="15min")
    rows = []
    for t in times:
        bump = bump_last_day if t >= paris_midnight(DAYS[2]) else 0
        for code, base in (("A", 4), ("B", 10)):
            rows.append((code, t.isoformat(), base + (t.hour % 6) + bump))
    obs = observations(rows)
    polls = pd.DataFrame({"observed_at": pd.Series(times)})
    return obs, polls


def rows_seen_by_the_model(obs, polls, monkeypatch, tmp_path) -> pd.DataFrame:
    seen: list[pd.DataFrame] = []

    def fit(feat, *args, **kwargs):
        seen.append(feat.copy())
        return {}, {}

    monkeypatch.setattr(model, "fit", fit)
    base = train.training_rows(obs, polls, pd.Timedelta(minutes=15))
    (tmp_path / "status").mkdir(exist_ok=True)  # the tables fit_member never reads
    tiny = {"trees": 5, "train_rows": 1000, "threads": 1, "processed": tmp_path}
    settings = TrainSettings.build(tiny)
    train.fit_member(base, climatology.parts(obs), paris_midnight(date(2022, 5, 19)), settings)
    return seen[0]


def test_a_training_row_sees_no_day_after_its_issue_day(monkeypatch, tmp_path):
    obs, polls = three_days()
    rows = rows_seen_by_the_model(obs, polls, monkeypatch, tmp_path)
    day = rows["issued_at"].dt.tz_convert("Europe/Paris").dt.date
    assert rows.loc[day == DAYS[0], "clim_target"].isna().all()  # nothing before the first day
    assert rows.loc[day > DAYS[0], "clim_target"].notna().all()
    # everything observed on the last day changes; the earlier rows' features do not move
    changed, _ = three_days(bump_last_day=5)
    again = rows_seen_by_the_model(changed, polls, monkeypatch, tmp_path)
    earlier = (day < DAYS[2]).to_numpy()
    climate = ["clim_target", "clim_last", "clim_delta", "clim_pempty", "clim_pfull"]
    pd.testing.assert_frame_equal(rows.loc[earlier, climate], again.loc[earlier, climate])
    last = (day == DAYS[2]).to_numpy()
    assert np.allclose(rows.loc[last, "clim_target"], again.loc[last, "clim_target"])  # 16-17 only
    assert not np.allclose(rows.loc[last, "last_bikes"], again.loc[last, "last_bikes"])


@pytest.mark.slow  # a second small model of the two real days (about 10 s)
def test_training_twice_gives_the_same_model_file(two_days, tiny_model, tiny, tmp_path):
    again = tmp_path / "again.zip"
    train.run(TrainSettings.build({"processed": two_days, "model_out": again, **tiny}))
    assert again.read_bytes() == tiny_model.read_bytes()
