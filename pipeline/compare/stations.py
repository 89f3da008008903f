"""What changed in the network between two snapshot sets, station by station.

A station is known by its code. A code only in B is *added*, only in A
*removed*, except that a removed and an added station standing within
``renumber_within_m`` of each other are one station *renumbered* (the operator
gave it a new code when it was rebuilt: 4005 → 4201 "Quai des Célestins -
Henri IV", 1 m apart): removed and added stations are paired greedily, nearest
first, each used once. A code in both is *renamed* when its names differ by more
than accents, case, punctuation or spacing (:func:`pipeline.sources.names.name_key`),
*moved* beyond ``move_threshold_m``, *capacity* when its dock count changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.sources.names import name_key

KINDS: tuple[str, ...] = ("added", "removed", "renumbered", "renamed", "moved", "capacity")
COLUMNS: tuple[str, ...] = (
    "change",
    "station_code",
    "new_code",  # renumbered: the code in B (station_code is the code in A)
    "name_a",
    "name_b",
    "capacity_a",
    "capacity_b",
    "distance_m",
    "lat_a",
    "lon_a",
    "lat_b",
    "lon_b",
    "commune_a",
    "commune_b",
)


def stations_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per station: its last known name, place and capacity, and its record count."""
    last = df.sort_values(["observed_at", "station_code"]).groupby("station_code").last()
    table = last[["name", "lat", "lon", "capacity", "commune", "arrondissement"]].copy()
    table["n_records"] = df.groupby("station_code").size()
    return table.sort_index()


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (works on scalars and numpy arrays or Series)."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dp, dl = p2 - p1, np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


def renumbered_pairs(
    removed: pd.DataFrame, added: pd.DataFrame, within_m: float
) -> list[tuple[str, str, float]]:
    """(old code, new code, metres): removed and added stations within ``within_m``, paired.

    Greedy nearest pairing (ties by code): the closest pair is one station,
    then the closest of the rest, and so on; a station is in one pair at most.
    """
    a = removed.dropna(subset=["lat", "lon"])
    b = added.dropna(subset=["lat", "lon"])
    if a.empty or b.empty:
        return []
    metres = haversine_m(
        a["lat"].to_numpy()[:, None],
        a["lon"].to_numpy()[:, None],
        b["lat"].to_numpy()[None, :],
        b["lon"].to_numpy()[None, :],
    )
    rows, cols = np.nonzero(metres <= within_m)
    candidates = sorted(
        (float(metres[i, j]), str(a.index[i]), str(b.index[j]))
        for i, j in zip(rows, cols, strict=True)
    )
    used_a: set[str] = set()
    used_b: set[str] = set()
    pairs = []
    for d, old, new in candidates:
        if old not in used_a and new not in used_b:
            used_a.add(old)
            used_b.add(new)
            pairs.append((old, new, d))
    return sorted(pairs)


def _renumbered(
    ta: pd.DataFrame, tb: pd.DataFrame, pairs: list[tuple[str, str, float]]
) -> pd.DataFrame:
    """The renumbered rows: A's side under the old code, B's side under the new one."""
    old = [p[0] for p in pairs]
    new = [p[1] for p in pairs]
    part = ta.loc[old].add_suffix("_a").reset_index(drop=True)
    part = part.join(tb.loc[new].add_suffix("_b").reset_index(drop=True))
    part.index = pd.Index(old, name="station_code")
    part["new_code"] = new
    part["distance_m"] = [p[2] for p in pairs]
    return part


def station_changes(
    a: pd.DataFrame, b: pd.DataFrame, move_threshold_m: float, renumber_within_m: float
) -> pd.DataFrame:
    """Row-level differences between two status frames, one row per station and kind."""
    ta, tb = stations_table(a), stations_table(b)
    pairs = renumbered_pairs(
        ta.loc[ta.index.difference(tb.index)],
        tb.loc[tb.index.difference(ta.index)],
        renumber_within_m,
    )
    paired = {p[0] for p in pairs} | {p[1] for p in pairs}
    joined = ta.join(tb, how="outer", lsuffix="_a", rsuffix="_b")
    joined["distance_m"] = haversine_m(
        joined["lat_a"], joined["lon_a"], joined["lat_b"], joined["lon_b"]
    )
    in_a, in_b = joined.index.isin(ta.index), joined.index.isin(tb.index)
    both = in_a & in_b
    keys_a = joined["name_a"].map(lambda n: name_key(n) if isinstance(n, str) else None)
    keys_b = joined["name_b"].map(lambda n: name_key(n) if isinstance(n, str) else None)
    cap_a, cap_b = joined["capacity_a"], joined["capacity_b"]
    unpaired = ~joined.index.isin(list(paired))
    kinds = {
        "added": ~in_a & in_b & unpaired,
        "removed": in_a & ~in_b & unpaired,
        "renamed": both & keys_a.notna() & keys_b.notna() & (keys_a != keys_b),
        "moved": both & (joined["distance_m"] > move_threshold_m).fillna(False),
        "capacity": both & cap_a.notna() & cap_b.notna() & (cap_a != cap_b).fillna(False),
    }
    parts = [joined[mask].assign(change=kind) for kind, mask in kinds.items()]
    if pairs:
        parts.append(_renumbered(ta, tb, pairs).assign(change="renumbered"))
    out = pd.concat(parts).rename_axis("station_code").reset_index()
    out = out.reindex(columns=list(COLUMNS))
    out["distance_m"] = out["distance_m"].astype("float64").round(1)
    order = {k: i for i, k in enumerate(KINDS)}
    out["_k"] = out["change"].map(order)
    return out.sort_values(["_k", "station_code"], ignore_index=True).drop(columns="_k")
