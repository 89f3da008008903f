"""The observation table: each station's state at each poll that listed it.

The status table is a change log (a record when a station changed, plus an
hourly heartbeat), so it cannot say when a station was *seen*. The poll log
can: a poll lists the stations of its snapshot. A station's observation at a
poll is therefore its latest status record at or before the poll's
``observed_at`` (an as-of join), for every ok poll that listed it. Targets are
scored, and features computed, on observations only: a state carried forward
between polls is not a measurement.

Without a poll log (a processed root exported before it existed), poll times
are the distinct ``observed_at`` of the status records, and a station counts
as listed while its latest record is younger than ``stale_after``: an
inference, said once in the log.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates
from pipeline.research.tables import read_table, utc

log = logging.getLogger(__name__)

STATE: tuple[str, ...] = (
    "bikes_available",
    "docks_available",
    "mechanical_available",
    "ebike_available",
    "capacity",
    "is_installed",
    "is_renting",
    "is_returning",
    "arrondissement",
    "commune",
    "lat",
    "lon",
)
OBS_COLUMNS: tuple[str, ...] = ("station_code", "observed_at", *STATE)
POLL_COLUMNS: tuple[str, ...] = ("observed_at", "n_stations")


def observations(status: pd.DataFrame, polls: pd.DataFrame) -> pd.DataFrame:
    """One row per (station, ok poll listing it): the station's state in force then.

    Args:
        status: status records (pipeline/record.py fields; ``observed_at`` UTC).
        polls: the poll log: ``observed_at``, ``ok`` and ``listed`` (station codes).

    Returns:
        :data:`OBS_COLUMNS`, ``observed_at`` being the poll's time; a listed
        station without any record at or before the poll is left out.
    """
    ok = polls[polls["ok"].astype(bool)] if "ok" in polls else polls
    sightings = pd.DataFrame(
        {
            "station_code": np.concatenate(
                [np.asarray(x, dtype=object) for x in ok["listed"]] or [np.array([], object)]
            ),
            "observed_at": np.repeat(
                utc(ok["observed_at"]).to_numpy(), [len(x) for x in ok["listed"]]
            ),
        }
    )
    sightings["observed_at"] = utc(sightings["observed_at"])
    sightings["station_code"] = sightings["station_code"].astype(str)
    records = status[["station_code", "observed_at", *STATE]].copy()
    records["station_code"] = records["station_code"].astype(str)
    records["observed_at"] = utc(records["observed_at"])
    records = records.rename(columns={"observed_at": "record_at"}).sort_values("record_at")
    merged = pd.merge_asof(
        sightings.sort_values("observed_at"),
        records,
        left_on="observed_at",
        right_on="record_at",
        by="station_code",
        direction="backward",
    )
    merged = merged[merged["record_at"].notna()].drop(columns="record_at")
    return normalize(merged)


def inferred_polls(status: pd.DataFrame, stale_after: pd.Timedelta) -> pd.DataFrame:
    """A poll log guessed from status alone: a poll per distinct time, listing the fresh.

    A station is listed at a poll time while its latest record at or before it
    is at most ``stale_after`` old (the stream's own rule for "known").
    """
    times = pd.DataFrame({"observed_at": np.sort(utc(status["observed_at"]).unique())})
    records = pd.DataFrame(
        {
            "station_code": status["station_code"].astype(str).to_numpy(),
            "record_at": utc(status["observed_at"]).to_numpy(),
        }
    )
    rows = []
    for code, mine in records.groupby("station_code", sort=True):
        at = pd.merge_asof(
            times, mine.sort_values("record_at"), left_on="observed_at", right_on="record_at"
        )
        fresh = at["record_at"].notna() & (at["observed_at"] - at["record_at"] <= stale_after)
        rows.append(pd.DataFrame({"observed_at": at.loc[fresh, "observed_at"], "code": code}))
    seen = pd.concat(rows) if rows else pd.DataFrame({"observed_at": [], "code": []})
    listed = seen.groupby("observed_at", sort=True)["code"].agg(lambda s: sorted(s))
    out = listed.rename("listed").reset_index()
    out["ok"] = True
    return out


def poll_times(obs: pd.DataFrame) -> pd.DataFrame:
    """The polls of an observation table: time and stations listed, in time order."""
    counts = obs.groupby("observed_at", sort=True).size()
    return pd.DataFrame({"observed_at": counts.index, "n_stations": counts.to_numpy()})


def normalize(obs: pd.DataFrame) -> pd.DataFrame:
    """Dtypes (UTC, nullable ints), one row per (station, time), sorted by station and time."""
    obs = obs[list(OBS_COLUMNS)].copy()
    obs["observed_at"] = utc(obs["observed_at"])
    obs["station_code"] = obs["station_code"].astype(str)
    for c in ("bikes_available", "docks_available"):
        obs[c] = obs[c].astype("int32")
    for c in ("mechanical_available", "ebike_available", "capacity", "arrondissement"):
        obs[c] = obs[c].astype("Int32")
    for c in ("is_installed", "is_renting", "is_returning"):
        obs[c] = obs[c].astype(bool)
    for c in ("lat", "lon"):
        obs[c] = obs[c].astype(float)
    obs["commune"] = obs["commune"].astype(object)
    obs = obs.drop_duplicates(["station_code", "observed_at"], keep="last")
    return obs.sort_values(["station_code", "observed_at"], ignore_index=True)


def on_dates(obs: pd.DataFrame, dates: tuple[date, date] | None) -> pd.DataFrame:
    """The observations whose Paris date is within ``dates`` (inclusive; None keeps all)."""
    if dates is None or obs.empty:
        return obs
    day = paris_dates(obs["observed_at"])
    return obs[(day >= dates[0]) & (day <= dates[1])].reset_index(drop=True)


def load(
    processed: Path, dates: tuple[date, date] | None, stale_after: pd.Timedelta
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Observations and polls of a processed root; True when the poll log was inferred."""
    status = read_table(processed, "status", ["station_code", "observed_at", *STATE])
    folder = Path(processed) / "polls"
    inferred = not (folder.is_dir() and any(folder.rglob("*.parquet")))
    if inferred:
        log.warning(
            "%s has no poll log (polls/): polls inferred from the status records "
            "(a station counts as seen while its record is younger than %s)",
            processed,
            stale_after,
        )
        polls = inferred_polls(status, stale_after)
    else:
        polls = read_table(processed, "polls", ["observed_at", "ok", "listed"])
    obs = on_dates(observations(status, polls), dates)
    return obs, poll_times(obs), inferred
