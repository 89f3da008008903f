"""Hand-made observation frames for the forecast's unit tests (the columns it reads)."""

from __future__ import annotations

import pandas as pd


def observations(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    """Observations of stations 30 m apart (neighbours of each other), 20 docks each."""
    frame = pd.DataFrame(
        {
            "station_code": [r[0] for r in rows],
            "observed_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "bikes_available": [r[2] for r in rows],
        }
    )
    frame["docks_available"] = 20 - frame["bikes_available"]
    frame["ebike_available"] = 1
    frame["is_installed"] = frame["is_renting"] = frame["is_returning"] = True
    frame["lat"] = 48.85 + frame["station_code"].map({"A": 0.0, "B": 0.0003})
    frame["lon"], frame["arrondissement"], frame["commune"] = 2.35, 4, "Paris"
    return frame
