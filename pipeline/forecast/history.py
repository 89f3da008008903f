"""What each observation says with the ones before it: recent change, neighbours, area.

Every column of a row uses that observation and earlier ones of the same
station, or other stations' observations of the *same poll*: nothing later.
A forecast issued at ``t`` then takes each station's last row before ``t``
(:mod:`pipeline.forecast.features`), so the whole table can be built once for
a recording and serve every issue time, in training and in prediction alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LAG_SHORT = pd.Timedelta(minutes=45)  # "change over the last hour": reference <= t - 45 min
LAG_LONG = pd.Timedelta(minutes=150)  # "change over ~3 hours"
TSLC_CAP_MIN = 360.0  # time since the last change, capped so a 12 h look-back gives the same
NEIGHBOUR_RADIUS_M = 400.0  # 400-600 m was best in the prototype's ablation


def station_table(obs: pd.DataFrame) -> pd.DataFrame:
    """Each station's place as first seen: lat, lon, arrondissement, commune, area.

    The first sighting precedes every observation through which a station
    counts in another's context, so its place is never news from the future.
    """
    first = obs.sort_values(["observed_at", "station_code"]).groupby("station_code").first()
    st = first[["lat", "lon", "arrondissement", "commune"]].copy()
    arr = st["arrondissement"]
    st["area"] = np.where(
        arr.notna(), "P" + arr.astype("string").fillna(""), st["commune"].fillna("?").astype(str)
    )
    return st.sort_index()


def neighbour_pairs(stations: pd.DataFrame, radius_m: float = NEIGHBOUR_RADIUS_M) -> pd.DataFrame:
    """Pairs (station_code, nbr_code) of distinct stations within ``radius_m``."""
    s = stations.dropna(subset=["lat", "lon"])
    lat, lon = np.radians(s["lat"].to_numpy(float)), np.radians(s["lon"].to_numpy(float))
    x = (lon[:, None] - lon[None, :]) * np.cos((lat[:, None] + lat[None, :]) / 2)
    d = 6_371_000.0 * np.hypot(x, lat[:, None] - lat[None, :])
    i, j = np.nonzero((d <= radius_m) & (d > 0))
    codes = s.index.to_numpy()
    return pd.DataFrame({"station_code": codes[i], "nbr_code": codes[j]})


def station_features(obs: pd.DataFrame) -> pd.DataFrame:
    """Per-observation features from that observation and the station's earlier ones."""
    h = obs.sort_values(["station_code", "observed_at"]).reset_index(drop=True)
    b = h["bikes_available"].astype(float)
    g = h.groupby("station_code", sort=False)
    prev_b = g["bikes_available"].shift(1).astype(float)
    out = pd.DataFrame({"station_code": h["station_code"], "observed_at": h["observed_at"]})
    out["last_bikes"] = b
    out["last_docks"] = h["docks_available"].astype(float)
    out["last_ebike"] = h["ebike_available"].astype(float)
    out["cap_eff"] = out["last_bikes"] + out["last_docks"]
    out["fill"] = b / out["cap_eff"].where(out["cap_eff"] > 0)
    out["renting"] = h["is_renting"].astype(float) * h["is_installed"].astype(float)
    out["returning"] = h["is_returning"].astype(float)
    out["delta_last"] = b - prev_b
    out["gap_last_min"] = (h["observed_at"] - g["observed_at"].shift(1)).dt.total_seconds() / 60
    for name, lag in (("1h", LAG_SHORT), ("3h", LAG_LONG)):
        ref_bikes, span = _value_before(h, lag)
        out[f"delta_{name}"] = b - ref_bikes
        out[f"span_{name}_min"] = span
    absd = out["delta_last"].abs()
    ga = absd.groupby(h["station_code"], sort=False)
    out["vol4"] = absd + ga.shift(1) + ga.shift(2) + ga.shift(3)
    changed = (out["delta_last"] != 0) | prev_b.isna()
    run = changed.groupby(h["station_code"], sort=False).cumsum()
    start = h.groupby([h["station_code"], run], sort=False)["observed_at"].transform("min")
    out["tslc_min"] = ((h["observed_at"] - start).dt.total_seconds() / 60).clip(upper=TSLC_CAP_MIN)
    return out


def _value_before(h: pd.DataFrame, lag: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Each row's station bikes at its last observation at or before ``t - lag``, and the span."""
    left = pd.DataFrame(
        {"station_code": h["station_code"], "t": h["observed_at"] - lag, "row": np.arange(len(h))}
    ).sort_values("t", kind="stable")
    right = pd.DataFrame(
        {
            "station_code": h["station_code"],
            "t": h["observed_at"],
            "ref_t": h["observed_at"],
            "bikes": h["bikes_available"].astype(float),
        }
    ).sort_values("t", kind="stable")
    m = pd.merge_asof(left, right, on="t", by="station_code", direction="backward")
    m = m.sort_values("row")
    return m["bikes"].to_numpy(dtype=float), minutes(h["observed_at"], m["ref_t"])


def minutes(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    """``later - earlier`` in minutes, element-wise by position (NaN where either is NaT).

    Through ``datetime64`` arrays: tz-aware ``to_numpy()`` makes Python objects,
    which the prototype measured at seconds per call.
    """
    a = pd.to_datetime(later, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    b = pd.to_datetime(earlier, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    return ((a - b) / np.timedelta64(1, "m")).astype(float)


def context_features(
    hist: pd.DataFrame, stations: pd.DataFrame, pairs: pd.DataFrame
) -> pd.DataFrame:
    """Add the neighbours', the area's and the network's state in the SAME poll."""
    hist = hist.copy()
    hist["area"] = stations["area"].reindex(hist["station_code"]).to_numpy()
    cols = ["observed_at", "last_bikes", "cap_eff", "delta_1h", "delta_last"]
    nb = pairs.merge(
        hist[["station_code", *cols]].rename(columns={"station_code": "nbr_code"}), on="nbr_code"
    )
    nb["empty"] = (nb["last_bikes"] == 0).astype(float)
    nb["full"] = (nb["cap_eff"] - nb["last_bikes"] == 0).astype(float)
    agg = nb.groupby(["station_code", "observed_at"], sort=True).agg(
        nbr_n=("last_bikes", "size"),
        nbr_bikes=("last_bikes", "sum"),
        nbr_cap=("cap_eff", "sum"),
        nbr_d1h=("delta_1h", "sum"),
        nbr_dlast=("delta_last", "sum"),
        nbr_empty=("empty", "mean"),
        nbr_full=("full", "mean"),
    )
    cap = agg["nbr_cap"].where(agg["nbr_cap"] > 0)
    agg["nbr_fill"] = agg["nbr_bikes"] / cap
    agg["nbr_d1h_rel"] = agg["nbr_d1h"] / cap
    agg["nbr_dlast_rel"] = agg["nbr_dlast"] / cap
    agg = agg[["nbr_n", "nbr_fill", "nbr_d1h_rel", "nbr_dlast_rel", "nbr_empty", "nbr_full"]]
    hist = hist.merge(agg.reset_index(), on=["station_code", "observed_at"], how="left")
    hist["nbr_n"] = hist["nbr_n"].fillna(0)
    for key, pre in ((["area", "observed_at"], "area"), (["observed_at"], "net")):
        a = hist.groupby(key, dropna=False, sort=True).agg(
            b=("last_bikes", "sum"), c=("cap_eff", "sum"), d=("delta_1h", "sum")
        )
        a[f"{pre}_fill"] = a["b"] / a["c"]
        a[f"{pre}_d1h_rel"] = a["d"] / a["c"]
        hist = hist.merge(a[[f"{pre}_fill", f"{pre}_d1h_rel"]].reset_index(), on=key, how="left")
    return hist


def prepare(obs: pd.DataFrame, stations: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Station and context features of every observation, sorted by time then station."""
    ctx = context_features(station_features(obs), stations, pairs)
    return ctx.sort_values(["observed_at", "station_code"], ignore_index=True)
