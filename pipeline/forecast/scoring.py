"""The scored table: each observed target with the served forecast, the model's and the baselines'.

Built from the recording itself, independently of the model: persistence is
the station's last observation strictly before ``issued_at`` (none when
older than the stale limit); climatology, persistence plus its expected
change, the smoothed persistence of P(empty)/P(full) and the change
quantiles are fitted on the recording's Paris days before the issue day (a
rolling origin of their own, so they too never see the day they forecast).
Rows are kept where the predictions file has a forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates, paris_hour, paris_midnight
from pipeline.forecast import baselines, climatology, targets
from pipeline.forecast.history import station_table

KEY = ["station_code", "issued_at", "horizon_min"]


def step_of(predictions: pd.DataFrame) -> pd.Timedelta:
    """The issue-time step of a predictions file (the smallest gap between issue times)."""
    times = pd.DatetimeIndex(pd.to_datetime(predictions["issued_at"], utc=True).unique())
    gaps = times.sort_values().to_series().diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    return pd.Timedelta(gaps.min()) if len(gaps) else pd.Timedelta(minutes=15)


def last_state(obs: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's station state at its last observation strictly before ``issued_at``."""
    right = obs[["station_code", "observed_at", "bikes_available", "docks_available"]].rename(
        columns={
            "observed_at": "last_obs_at",
            "bikes_available": "last_bikes",
            "docks_available": "last_docks",
        }
    )
    left = rows.assign(_row=np.arange(len(rows))).sort_values("issued_at", kind="stable")
    m = pd.merge_asof(
        left,
        right.sort_values("last_obs_at"),
        left_on="issued_at",
        right_on="last_obs_at",
        by="station_code",
        allow_exact_matches=False,
    ).sort_values("_row")
    m.index = rows.index
    m["age_min"] = (m["issued_at"] - m["last_obs_at"]).dt.total_seconds() / 60
    for c in ("last_bikes", "last_docks"):
        m[c] = m[c].astype(float)
    return m.drop(columns="_row")


def scored_table(
    obs: pd.DataFrame, poll_times: pd.Series, predictions: pd.DataFrame, stale: pd.Timedelta
) -> pd.DataFrame:
    """Every observed target that has a model forecast, with all forecasts side by side.

    ``stale`` is the stream's ``stale_after``: persistence of an older state is no forecast.
    """
    step = step_of(predictions)
    pred = predictions.rename(columns={"horizon_minutes": "horizon_min"})
    pred["horizon_min"] = pred["horizon_min"].astype("int64")
    rows = targets.scored(obs, poll_times, step, horizons=sorted(set(pred["horizon_min"])))
    rows = rows.merge(pred.drop(columns=["target_at", "last_observed_at"], errors="ignore"), on=KEY)
    t = last_state(obs, rows)
    p = baselines.persistence(t, stale)
    for c in p:
        t[f"pers_{c}"] = p[c]
    t["empty"] = (t["bikes_target"] == 0).astype(float)
    t["full"] = (t["docks_target"] == 0).astype(float)
    t["hour"] = paris_hour(t["target_at"]).astype("int64")
    _add_rolling_baselines(t, obs, poll_times, step, stale)
    places = station_table(obs)
    arr = places["arrondissement"].reindex(t["station_code"]).to_numpy()
    t["arrondissement"] = pd.array(arr, dtype="Int64")
    t["issue_day"] = paris_dates(t["issued_at"]).astype(str)
    t["lead_min"] = (t["target_obs_at"] - t["last_obs_at"]).dt.total_seconds() / 60
    return t.sort_values(["issued_at", "horizon_min", "station_code"], ignore_index=True)


def _add_rolling_baselines(
    t: pd.DataFrame,
    obs: pd.DataFrame,
    poll_times: pd.Series,
    step: pd.Timedelta,
    stale: pd.Timedelta,
) -> None:
    """In place: every baseline fitted on the days before each issue day.

    Climatology, persistence plus its expected change, the smoothed
    persistence of P(empty)/P(full) and the change quantiles: each issue day
    gets them from the recording's Paris days before it, as a model member does.
    """
    parts = climatology.parts(obs)
    all_days = sorted(set(parts["day"]))
    issue_day = paris_dates(t["issued_at"])
    history = targets.scored(obs, poll_times, step, horizons=sorted(set(t["horizon_min"])))
    history = last_state(obs, history)
    history["day"] = paris_dates(history["issued_at"])
    history["hour"] = paris_hour(history["target_at"]).astype("int64")
    history = history[history["age_min"] <= stale.total_seconds() / 60]
    for c in BASELINE_COLUMNS:
        t[c] = np.nan
    for d in sorted(set(issue_day)):
        before = [x for x in all_days if x < d]
        idx = t.index[issue_day == d]
        if before and len(idx):
            clim = climatology.fit(parts, before, paris_midnight(d))
            _climatology_baselines(t, idx, clim)
            _learnt_baselines(t, idx, history[history["day"] < d])


BASELINE_COLUMNS: tuple[str, ...] = (
    "clim_bikes",
    "clim_p_empty",
    "clim_p_full",
    "pers_clim_bikes",
    "spers_p_empty",
    "spers_p_full",
    *(f"base_q{round(q * 100):02d}" for q in baselines.QUANTILES),
)


def _climatology_baselines(t: pd.DataFrame, idx: pd.Index, clim: climatology.Climatology) -> None:
    """In place on rows ``idx``: the climatology and persistence plus its expected change."""
    rows = t.loc[idx]
    c = baselines.climatology(clim, rows["station_code"], rows["target_at"])
    t.loc[idx, "clim_bikes"] = c["bikes"].to_numpy()
    t.loc[idx, "clim_p_empty"] = c["p_empty"].to_numpy()
    t.loc[idx, "clim_p_full"] = c["p_full"].to_numpy()
    at_target = climatology.lookup(clim, rows["station_code"], rows["target_at"])
    at_last = climatology.lookup(
        clim, rows["station_code"], rows["last_obs_at"].fillna(rows["issued_at"])
    )
    moved = baselines.persistence_plus_change(
        rows["pers_bikes"], rows["last_bikes"] + rows["last_docks"],
        at_target["bikes"], at_last["bikes"],
    )  # fmt: skip
    t.loc[idx, "pers_clim_bikes"] = moved.where(rows["pers_bikes"].notna()).to_numpy()


def _learnt_baselines(t: pd.DataFrame, idx: pd.Index, past: pd.DataFrame) -> None:
    """In place on rows ``idx``: smoothed persistence and change quantiles learnt on ``past``."""
    rows = t.loc[idx]
    fresh = rows["pers_bikes"].notna()
    for event, now, then in (("empty", "last_bikes", "bikes_target"),
                             ("full", "last_docks", "docks_target")):  # fmt: skip
        table = baselines.fit_smoothed_persistence(past["horizon_min"], past[now], past[then] == 0)
        p = baselines.smoothed_persistence(table, rows["horizon_min"], rows[now].fillna(0))
        t.loc[idx, f"spers_p_{event}"] = p.where(fresh).to_numpy()
    change = past["bikes_target"].astype(float) - past["last_bikes"]
    table = baselines.fit_change_quantiles(past["horizon_min"], past["hour"], change)
    q = baselines.change_quantiles(
        table, rows["horizon_min"], rows["hour"], rows["last_bikes"],
        rows["last_bikes"] + rows["last_docks"],
    )  # fmt: skip
    for c in q:
        t.loc[idx, f"base_{c}"] = q[c].where(fresh).to_numpy()
