"""``velib forecast predict``: every station at every issue time, from the past only.

An issue time ``t`` forecasts each station seen in the ``LOOKBACK`` before
``t`` at ``t`` + 15, 30 and 60 minutes, with the newest model member whose
cut-off is not after ``t`` and nothing observed at or after ``t`` (the
station list and places included). :func:`issue` is the one path: the batch
over a recording, the live forecaster and the benchmark all call it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import durable, vocabulary
from pipeline.clock import paris_dates
from pipeline.forecast import bundle, features, history, model, observations, serving, targets
from pipeline.settings import project
from pipeline.settings.forecast import PredictSettings

log = logging.getLogger(__name__)

LOOKBACK = pd.Timedelta(hours=12)  # a station unseen this long gets no forecast
MARGIN = pd.Timedelta(hours=8)  # history before the look-back: features reach 6 h back (tslc cap)
# The interface (docs/outputs.md): the vocabulary's forecasts columns; ``date`` is a folder.
OUTPUT: tuple[str, ...] = tuple(n for n in vocabulary.names(vocabulary.FORECAST) if n != "date")


def issue(
    obs: pd.DataFrame,
    poll_times: pd.Series,
    times: Sequence[pd.Timestamp],
    member: model.Member,
    horizons: Sequence[int] = targets.HORIZONS,
    serve: serving.Serving | None = None,
) -> pd.DataFrame:
    """Forecasts at each of ``times`` (all later than nothing in ``obs`` needs to be).

    Each forecast uses observations strictly before its own issue time (a
    station's place is where it was first seen: see
    :func:`pipeline.forecast.history.station_table`). ``serve`` says at which
    horizons persistence replaces the model (:mod:`pipeline.forecast.serving`;
    none: the model everywhere). Returns :data:`OUTPUT` rows.
    """
    first, last = min(times), max(times)
    past = obs[(obs["observed_at"] < last) & (obs["observed_at"] >= first - LOOKBACK - MARGIN)]
    if past.empty:
        return pd.DataFrame(columns=list(OUTPUT))
    stations = history.station_table(past)
    hist = history.prepare(past, stations, history.neighbour_pairs(stations))
    codes = stations.index.to_numpy()
    n, k = len(codes), len(horizons)
    issued = np.repeat(pd.DatetimeIndex(times).as_unit("ns").to_numpy(), n * k)
    req = pd.DataFrame(
        {
            "station_code": np.tile(np.repeat(codes, k), len(times)),
            "issued_at": pd.to_datetime(issued, utc=True),
            "horizon_min": np.tile(np.asarray(horizons, dtype="int64"), n * len(times)),
        }
    )
    polls = poll_times[poll_times < last]
    feat = features.build(hist, req, member.clim, polls)
    feat = feat[feat["age_min"] <= LOOKBACK.total_seconds() / 60]
    out = pd.concat(
        [
            feat[["station_code", "issued_at", "horizon_min", "target_at", "last_obs_at"]],
            serving.apply(model.predict(member, feat), feat, serve or serving.Serving()),
        ],
        axis=1,
    ).rename(columns={"horizon_min": "horizon_minutes", "last_obs_at": "last_observed_at"})
    return tidy(out)


def tidy(out: pd.DataFrame) -> pd.DataFrame:
    """The stable interface: column order, dtypes, rounding, row order."""
    out = out[list(OUTPUT)].copy()
    for c in ("bikes_pred", "bikes_p10", "bikes_p90", "docks_pred"):
        out[c] = out[c].astype(float).round(3)
    for c in ("p_empty", "p_full"):
        out[c] = out[c].astype(float).round(4)
    out["horizon_minutes"] = out["horizon_minutes"].astype("int32")
    out["station_code"] = out["station_code"].astype(str)
    for c in ("issued_at", "target_at", "last_observed_at"):
        out[c] = pd.to_datetime(out[c], utc=True).dt.as_unit("us")
    return out.sort_values(["issued_at", "horizon_minutes", "station_code"], ignore_index=True)


def write(frame: pd.DataFrame, path: Path) -> None:
    """A byte-stable Parquet file (no pandas index, fixed compression, atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    durable.write_bytes(path, sink.getvalue().to_pybytes())


@dataclass
class PredictSummary:
    """What ``predict`` did, for its one line."""

    issue_times: int = 0
    skipped_times: int = 0
    rows: int = 0
    stations: int = 0
    persistence_at: tuple[int, ...] = ()

    def line(self) -> str:
        """One line for the terminal."""
        served = ",".join(f"+{h}min" for h in self.persistence_at) or "none"
        return (
            f"forecast predict: issue_times={self.issue_times} rows={self.rows} "
            f"stations={self.stations} skipped_before_first_cutoff={self.skipped_times} "
            f"persistence_served_at={served}"
        )


def run(s: PredictSettings) -> PredictSummary:
    """Forecast every issue time of ``s.processed`` that a member of ``s.model`` may serve."""
    members, _ = bundle.load(s.model)
    step = pd.Timedelta(project.parse_duration(s.every))
    stale = pd.Timedelta(project.parse_duration(s.stale_after))
    obs, polls, _ = observations.load(s.processed, None, stale)
    serve = serving.load(s.serving, stale)
    summary = PredictSummary(persistence_at=tuple(sorted(serve.persistence_at)))
    frames = []
    if not obs.empty:
        times = targets.grid(obs["observed_at"].min(), obs["observed_at"].max(), step)
        times = times[times > obs["observed_at"].min()]
        chosen = [bundle.member_for(members, t) for t in times]
        summary.skipped_times = sum(m is None for m in chosen)
        keyed = pd.DataFrame(
            {
                "t": times,
                "member": [id(m) if m else 0 for m in chosen],
                "day": paris_dates(pd.Series(times)),
            }
        )
        by_id = {id(m): m for m in members}
        for (mid, _), chunk in keyed[keyed["member"] != 0].groupby(["member", "day"], sort=True):
            frames.append(
                issue(obs, polls["observed_at"], list(chunk["t"]), by_id[mid], serve=serve)
            )
            summary.issue_times += len(chunk)
    if summary.skipped_times:
        log.info("%d issue times come before the model's first cut-off: not forecast",
                 summary.skipped_times)  # fmt: skip
    result = tidy(pd.concat(frames)) if frames else pd.DataFrame(columns=list(OUTPUT))
    write(result, s.out)
    summary.rows, summary.stations = len(result), int(result["station_code"].nunique())
    return summary
