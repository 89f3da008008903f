"""The observation table from the stream's tables: status (a change log) + the poll log."""

from __future__ import annotations

import pandas as pd

from pipeline.forecast import observations, targets


def status_rows(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "station_code": [r[0] for r in rows],
            "observed_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "bikes_available": [r[2] for r in rows],
        }
    )
    frame["docks_available"] = 20 - frame["bikes_available"]
    for c in ("mechanical_available", "ebike_available", "arrondissement"):
        frame[c] = 1
    frame["capacity"] = 20
    for c in ("is_installed", "is_renting", "is_returning"):
        frame[c] = True
    frame["commune"], frame["lat"], frame["lon"] = "Paris", 48.85, 2.35
    return frame


def polls(rows: list[tuple[str, bool, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "observed_at": pd.to_datetime([r[0] for r in rows], utc=True),
            "ok": [r[1] for r in rows],
            "listed": [r[2] for r in rows],
        }
    )


def test_a_listed_station_without_a_new_record_keeps_its_state_in_force():
    status = status_rows([("A", "2022-05-16T08:00Z", 5), ("B", "2022-05-16T08:00Z", 7),
                          ("A", "2022-05-16T10:00Z", 9)])  # fmt: skip
    log = polls([("2022-05-16T08:00Z", True, ["A", "B"]),
                 ("2022-05-16T09:00Z", True, ["A"]),           # B not listed: not seen
                 ("2022-05-16T09:30Z", False, []),             # a failed poll sees nobody
                 ("2022-05-16T10:00Z", True, ["A", "B", "C"])])  # C has no record yet  # fmt: skip
    obs = observations.observations(status, log)
    got = {(r.station_code, r.observed_at.strftime("%H:%M")): r.bikes_available
           for r in obs.itertuples()}  # fmt: skip
    assert got == {("A", "08:00"): 5, ("A", "09:00"): 5, ("A", "10:00"): 9,
                   ("B", "08:00"): 7, ("B", "10:00"): 7}  # fmt: skip
    assert observations.poll_times(obs)["n_stations"].tolist() == [2, 1, 2]


def test_without_a_poll_log_polls_are_inferred_from_fresh_records():
    status = status_rows(
        [
            ("A", "2022-05-16T08:00Z", 5),
            ("B", "2022-05-16T08:00Z", 7),
            ("A", "2022-05-16T09:00Z", 6),
            ("A", "2022-05-16T11:00Z", 1),
        ]
    )
    log = observations.inferred_polls(status, pd.Timedelta(hours=2))
    pairs = zip(log["observed_at"], log["listed"], strict=True)
    listed = {t.strftime("%H:%M"): codes for t, codes in pairs}
    assert listed == {"08:00": ["A", "B"], "09:00": ["A", "B"], "11:00": ["A"]}  # B is 3 h old


def test_each_poll_scores_one_grid_instant_within_half_a_step():
    times = pd.Series(pd.to_datetime(["2022-05-16T10:03Z", "2022-05-16T10:20Z",
                                      "2022-05-16T10:38Z", "2022-05-16T10:58Z",
                                      "2022-05-16T11:01Z"], utc=True))  # fmt: skip
    grid = targets.poll_grid(times, pd.Timedelta(minutes=15))
    got = dict(
        zip(
            grid["target_at"].dt.strftime("%H:%M"),
            grid["target_obs_at"].dt.strftime("%H:%M"),
            strict=True,
        )
    )
    # 10:58 and 11:01 both round to 11:00: the nearer one (11:01) is its target
    assert got == {"10:00": "10:03", "10:15": "10:20", "10:45": "10:38", "11:00": "11:01"}


def test_scored_targets_are_every_station_of_the_matched_poll_per_horizon():
    status = status_rows([("A", "2022-05-16T08:02Z", 5), ("B", "2022-05-16T08:02Z", 0)])
    obs = observations.observations(status, polls([("2022-05-16T08:02Z", True, ["A", "B"])]))
    rows = targets.scored(obs, obs["observed_at"], pd.Timedelta(minutes=15))
    assert len(rows) == 2 * len(targets.HORIZONS)
    assert set(rows["target_at"]) == {pd.Timestamp("2022-05-16T08:00Z")}
    assert (rows["target_at"] - rows["issued_at"]).dt.total_seconds().div(60).tolist() == [
        h for h in sorted(targets.HORIZONS, reverse=True) for _ in "AB"
    ]
