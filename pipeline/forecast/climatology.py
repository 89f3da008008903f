"""The station's profile: mean bikes, P(empty) and P(full) by Paris hour and day type.

It is a baseline on its own (the station's usual level at the target hour) and,
for the learned model, the source of its strongest feature: the *expected
change* between the hour of the last observation and the target hour.
Parts (sums per station, Paris day, day type and hour) make a climatology of
any set of days cheap, which is how each rolling-origin member gets one of
the days before its cut-off only, and each training row one of the days before
its own issue day (what a forecast issued then would have had).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipeline.clock import paris_dates, paris_hour
from pipeline.forecast.calendar import day_type

KEYS = ["station_code", "daytype", "hour"]
VALUES = ("bikes", "empty", "full")
SHRINK = 2.0  # pseudo-count: a (day type, hour) cell is pulled to the station's hour mean


def parts(obs: pd.DataFrame) -> pd.DataFrame:
    """Sums of bikes, empty and full, and counts, per station, Paris day, day type and hour."""
    t = obs["observed_at"]
    frame = pd.DataFrame(
        {
            "station_code": obs["station_code"].to_numpy(),
            "day": paris_dates(t).to_numpy(),
            "daytype": day_type(t).to_numpy(),
            "hour": paris_hour(t).to_numpy(),
            "bikes": obs["bikes_available"].to_numpy(dtype=float),
            "empty": (obs["bikes_available"] == 0).to_numpy(dtype=float),
            "full": (obs["docks_available"] == 0).to_numpy(dtype=float),
        }
    )
    g = frame.groupby(["station_code", "day", "daytype", "hour"], observed=True, sort=True)
    out = g[list(VALUES)].sum()
    out["n"] = g.size()
    return out.reset_index()


@dataclass
class Climatology:
    """Means per (station, day type, hour), per (station, hour) and per station.

    ``days`` are the Paris days it was fitted on; ``until`` the instant after
    which nothing was used (the leakage guard compares it with issue times).
    """

    cell: pd.DataFrame
    hourly: pd.DataFrame
    station: pd.DataFrame
    days: frozenset[date]
    until: pd.Timestamp


def fit(table: pd.DataFrame, days: Iterable[date], until: pd.Timestamp) -> Climatology:
    """The climatology of ``days`` (Paris dates) from :func:`parts`."""
    days = frozenset(days)
    p = table[table["day"].isin(days)]

    def means(keys: list[str]) -> pd.DataFrame:
        s = p.groupby(keys, observed=True, sort=True)[[*VALUES, "n"]].sum()
        for c in VALUES:
            s[c] = s[c] / s["n"]
        return s

    return Climatology(
        means(KEYS), means(["station_code", "hour"]), means(["station_code"]), days, until
    )


def lookup(
    clim: Climatology,
    station: pd.Series,
    ts: pd.Series,
    shrink: float = SHRINK,
    interpolate: bool = True,
) -> pd.DataFrame:
    """The climatology at UTC times ``ts`` for ``station``: columns bikes, empty, full, n.

    A (day type, hour) cell is shrunk towards the station's mean at that hour
    (all day types) with a pseudo-count ``shrink``; a missing hour falls back to
    the station's mean. With ``interpolate`` the value is blended linearly
    between the two nearest hour centres, so it moves smoothly with the clock.
    """
    dt = day_type(ts).to_numpy()
    frac = paris_hour(ts, fractional=True).to_numpy()
    if not interpolate:
        res = _at_hour(clim, station, dt, np.floor(frac).astype(int), shrink)
    else:
        x = frac - 0.5
        lo = np.floor(x).astype(int)
        w = x - lo
        a = _at_hour(clim, station, dt, lo % 24, shrink)
        b = _at_hour(clim, station, dt, (lo + 1) % 24, shrink)
        wa = np.where(np.isnan(a["bikes"]), 0.0, 1 - w)
        wb = np.where(np.isnan(b["bikes"]), 0.0, w)
        tot = wa + wb
        out: dict[str, np.ndarray] = {}
        for c in VALUES:
            v = np.nan_to_num(a[c].to_numpy()) * wa + np.nan_to_num(b[c].to_numpy()) * wb
            out[c] = np.where(tot > 0, v / np.where(tot > 0, tot, 1), np.nan)
        out["n"] = a["n"].to_numpy() * (1 - w) + b["n"].to_numpy() * w
        res = pd.DataFrame(out, index=station.index)
    st = clim.station.reindex(station.to_numpy())
    for c in VALUES:
        res[c] = res[c].fillna(pd.Series(st[c].to_numpy(), index=station.index))
    return res


def _at_hour(
    clim: Climatology, station: pd.Series, dt: np.ndarray, hour: np.ndarray, shrink: float
) -> pd.DataFrame:
    cell = clim.cell.reindex(pd.MultiIndex.from_arrays([station.to_numpy(), dt, hour]))
    hr = clim.hourly.reindex(pd.MultiIndex.from_arrays([station.to_numpy(), hour]))
    n = cell["n"].fillna(0).to_numpy()
    out: dict[str, np.ndarray] = {"n": n}
    for c in VALUES:
        cv, hv = cell[c].to_numpy(), hr[c].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mix = (np.nan_to_num(cv) * n + hv * shrink) / (n + shrink)
        out[c] = np.where(np.isnan(hv), cv, np.where(n > 0, mix, hv))
    return pd.DataFrame(out, index=station.index)
