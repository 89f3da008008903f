"""Empty and full episodes of the stations, from the stream's ``alerts/`` table.

An *episode* of a condition (``empty``: no bike to take, ``full``: no dock to
return to; :mod:`pipeline.vocabulary`) runs from the alert that puts a
station in that condition to the station's next alert, whatever it is.

Censoring: some episodes have only a bound, not a duration.

* *Right-censored*: the next alert is ``stale`` (the station stopped
  reporting; its state was in force up to that alert, the real end is
  unknown), or there is no next alert before the end of the data.
  The duration measured is a lower bound.
* *Left-censored*: the episode opens with ``back`` (the station reports
  again after being unknown) or with the station's first record (no
  ``previous``): the condition may have begun earlier. Also a lower bound.

Distributions and medians are taken over *complete* episodes (neither
censored); censored ones are counted and drawn apart, never mixed in. This
under-represents long episodes (the longer, the likelier to be cut), which
the notebook states next to the numbers.
"""

from __future__ import annotations

import pandas as pd

from pipeline import vocabulary

CONDITIONS: tuple[str, ...] = ("empty", "full")
COLUMNS: tuple[str, ...] = (
    "station_code",
    "condition",
    "start",
    "end",
    "minutes",
    "ended_by",
    "left_censored",
    "right_censored",
    "complete",
    "commune",
    "arrondissement",
)


def episodes(
    alerts: pd.DataFrame, data_end: pd.Timestamp, conditions: tuple[str, ...] = CONDITIONS
) -> pd.DataFrame:
    """Episodes of ``conditions`` from alert rows (``vocabulary.ALERT`` columns, UTC ``at``).

    Args:
        alerts: alert rows of any number of stations, in any order.
        data_end: the end of the data (UTC): an episode still running then is
            right-censored there.
        conditions: the conditions to extract.

    Returns:
        One row per episode (``COLUMNS``), ordered by start then station:
        ``end`` is the next alert's time (or ``data_end``), ``ended_by`` the
        next alert (``None`` at the end of the data), ``minutes`` the length.
    """
    if alerts.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    rows = alerts.sort_values(["station_code", "at"], kind="stable").reset_index(drop=True)
    same_station = rows["station_code"].shift(-1) == rows["station_code"]
    rows["end"] = rows["at"].shift(-1).where(same_station)
    rows["ended_by"] = rows["alert"].shift(-1).where(same_station)
    found = rows[rows["condition"].isin(conditions) & (rows["at"] < data_end)].copy()
    at_end = found["end"].isna()
    found["end"] = found["end"].where(~at_end, data_end)
    found["ended_by"] = found["ended_by"].where(~at_end, None)
    found["left_censored"] = (found["alert"] == vocabulary.BACK) | found["previous"].isna()
    found["right_censored"] = at_end | (found["ended_by"] == vocabulary.STALE)
    found["complete"] = ~(found["left_censored"] | found["right_censored"])
    found["minutes"] = (found["end"] - found["at"]).dt.total_seconds() / 60
    found = found.rename(columns={"at": "start"})
    found = found.sort_values(["start", "station_code"], kind="stable", ignore_index=True)
    return found[list(COLUMNS)].astype({"left_censored": bool, "right_censored": bool})


def summary(found: pd.DataFrame) -> pd.DataFrame:
    """Per condition: episodes, complete ones, censored share and duration quartiles (minutes)."""
    rows = []
    for condition in CONDITIONS:
        mine = found[found["condition"] == condition]
        done = mine.loc[mine["complete"].astype(bool), "minutes"]
        rows.append(
            {
                "condition": condition,
                "episodes": len(mine),
                "complete": len(done),
                "censored_share": 1 - len(done) / len(mine) if len(mine) else float("nan"),
                "median_minutes": done.median() if len(done) else float("nan"),
                "q1_minutes": done.quantile(0.25) if len(done) else float("nan"),
                "q3_minutes": done.quantile(0.75) if len(done) else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("condition")
