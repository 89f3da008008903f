"""Past-only feature rows for (station, issued_at, horizon) requests, with a leakage guard.

A request sees the station's last observation strictly before ``issued_at``
(an as-of join that excludes exact matches), that observation's history and
same-poll context (:mod:`pipeline.forecast.history`), the poll log before
``issued_at`` and a climatology fitted before ``issued_at`` (or, for a
training row, without its own target day). :func:`check_past_only` refuses
anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates, paris_hour
from pipeline.forecast import climatology
from pipeline.forecast.calendar import day_type
from pipeline.forecast.climatology import Climatology
from pipeline.forecast.history import minutes

BASE = [
    "horizon_min",
    "age_min",
    "lead_min",
    "last_bikes",
    "last_docks",
    "cap_eff",
    "fill",
    "hour_target",
    "daytype_target",
]
RECENT = [
    "delta_last",
    "gap_last_min",
    "delta_1h",
    "span_1h_min",
    "delta_3h",
    "vol4",
    "tslc_min",
    "last_ebike",
    "renting",
    "returning",
    "missed_polls_min",
]
CLIMATE = ["clim_target", "clim_last", "clim_delta", "anomaly", "clim_pempty", "clim_pfull"]
NEIGHBOURS = ["nbr_n", "nbr_fill", "nbr_d1h_rel", "nbr_dlast_rel", "nbr_empty", "nbr_full"]
AREA = ["area_fill", "area_d1h_rel", "net_fill", "net_d1h_rel"]
FEATURES: list[str] = BASE + RECENT + CLIMATE + NEIGHBOURS + AREA

ClimSource = Climatology | Mapping[date, Climatology] | None


def build(
    history: pd.DataFrame, requests: pd.DataFrame, clim: ClimSource, poll_times: pd.Series
) -> pd.DataFrame:
    """Feature rows for ``requests`` (station_code, issued_at, horizon_min), same index.

    Args:
        history: :func:`pipeline.forecast.history.prepare` of the observations.
        requests: what to forecast.
        clim: one climatology (prediction), or one per Paris day of ``issued_at``
            fitted on the days before it (training rows), or None (added later).
        poll_times: every poll's time (``missed_polls_min``: how long the station
            has been missing from polls that happened).

    Returns:
        The requests with ``last_obs_at``, ``target_at`` and the features; a
        station with no observation before ``issued_at`` gets NaN state.
    """
    req = requests[["station_code", "issued_at", "horizon_min"]].copy()
    req["issued_at"] = pd.to_datetime(req["issued_at"], utc=True).dt.as_unit("ns")
    req["_row"] = np.arange(len(req))
    hist = history.rename(columns={"observed_at": "last_obs_at"})
    f = pd.merge_asof(
        req.sort_values("issued_at", kind="stable"),
        hist,
        left_on="issued_at",
        right_on="last_obs_at",
        by="station_code",
        direction="backward",
        allow_exact_matches=False,
    ).sort_values("_row")
    f.index = requests.index
    f["age_min"] = (f["issued_at"] - f["last_obs_at"]).dt.total_seconds() / 60
    f["lead_min"] = f["age_min"] + f["horizon_min"]
    f["target_at"] = f["issued_at"] + pd.to_timedelta(f["horizon_min"], unit="m")
    f["hour_target"] = paris_hour(f["target_at"], fractional=True)
    f["daytype_target"] = day_type(f["target_at"])
    polls = pd.DataFrame({"poll_at": np.sort(pd.to_datetime(poll_times, utc=True).unique())})
    polls["poll_at"] = polls["poll_at"].dt.as_unit("ns")
    p = pd.merge_asof(
        f[["issued_at"]].assign(_i=np.arange(len(f))).sort_values("issued_at", kind="stable"),
        polls,
        left_on="issued_at",
        right_on="poll_at",
        allow_exact_matches=False,
    ).sort_values("_i")
    f["missed_polls_min"] = minutes(p["poll_at"], f["last_obs_at"])
    if clim is not None:
        add_climatology(f, clim)
    check_past_only(f, clim)
    return f.drop(columns=["_row"])


def add_climatology(f: pd.DataFrame, clim: Climatology | Mapping[date, Climatology]) -> None:
    """In place: the climatology at the target and at the last observation, and their gap.

    With one climatology per Paris issue day, a row whose issue day has none
    (the recording's first day: no day before it) keeps NaN climatology
    features, as a forecast issued then would.
    """
    if isinstance(clim, Climatology):
        groups = [(f.index, clim)]
    else:
        days = paris_dates(f["issued_at"])
        groups = [(f.index[days == d], c) for d, c in clim.items()]
    for column in ("clim_target", "clim_last", "clim_pempty", "clim_pfull"):
        f[column] = np.nan
    for idx, table in groups:
        if len(idx) == 0:
            continue
        sub = f.loc[idx]
        at_t = climatology.lookup(table, sub["station_code"], sub["target_at"])
        at_l = climatology.lookup(
            table, sub["station_code"], sub["last_obs_at"].fillna(sub["issued_at"])
        )
        f.loc[idx, "clim_target"] = at_t["bikes"].to_numpy()
        f.loc[idx, "clim_pempty"] = at_t["empty"].to_numpy()
        f.loc[idx, "clim_pfull"] = at_t["full"].to_numpy()
        f.loc[idx, "clim_last"] = at_l["bikes"].to_numpy()
    f["clim_delta"] = f["clim_target"] - f["clim_last"]
    f["anomaly"] = f["last_bikes"] - f["clim_last"]


def check_past_only(f: pd.DataFrame, clim: ClimSource) -> None:
    """The leakage guard: raise when a row uses anything at or after its ``issued_at``.

    One rule for prediction and training alike: the climatology a row uses was
    fitted until (``Climatology.until``) no later than the row's issue time.

    Raises:
        AssertionError: a row's last observation is not strictly before its
            issue time, or the climatology of a row was fitted past its issue time.
    """
    bad = f["last_obs_at"].notna() & (f["last_obs_at"] >= f["issued_at"])
    if bad.any():
        raise AssertionError(f"{int(bad.sum())} rows use an observation at or after issued_at")
    if isinstance(clim, Climatology):
        if len(f) and clim.until > f["issued_at"].min():
            raise AssertionError(f"climatology fitted until {clim.until} > first issued_at")
    elif clim is not None:
        days = paris_dates(f["issued_at"])
        for d, c in clim.items():
            issued = f.loc[(days == d).to_numpy(), "issued_at"]
            if len(issued) and c.until > issued.min():
                raise AssertionError(
                    f"climatology for issue day {d} fitted until {c.until} > its first issued_at"
                )
