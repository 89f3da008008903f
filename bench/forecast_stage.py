"""The forecast's two targets, measured: train on the two weeks, forecast one issue time.

Training is what ``velib forecast train`` does for one member on every day of
the recording (the observed targets, their past-only features, the
leave-one-day-out climatology, five boosters at the params.yaml size);
prediction is :func:`pipeline.forecast.predict.issue` for every station at one
issue time (what the live forecaster does each window), timed at several
issue times of the last day. The observation table is built from the
recorded files directly (each snapshot lists its stations), which is what the
stream's tables give (docs/forecast.md), outside the timing.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger("bench.forecast")

ISSUE_TIMES = ("06:00", "08:15", "10:30", "12:45", "15:00", "17:15", "19:30", "21:45")


def observations_of(history: Path) -> pd.DataFrame:
    """One row per station and snapshot of a recorded folder (the observation table)."""
    from pipeline.forecast import observations
    from pipeline.sources.recorded import read_recorded

    rows = [
        {c: getattr(r, c) for c in observations.OBS_COLUMNS}
        for snap in read_recorded(history)
        for r in snap.records
    ]
    return observations.normalize(pd.DataFrame(rows, columns=list(observations.OBS_COLUMNS)))


def stage_forecast(p: dict[str, Any]) -> dict[str, Any]:
    """Seconds to train one member on every day, and to forecast one issue time."""
    from pipeline.clock import PARIS, paris_dates, paris_midnight
    from pipeline.forecast import climatology, observations, predict, train

    obs = observations_of(Path(p["history"]))
    polls = observations.poll_times(obs)
    days = sorted(set(paris_dates(obs["observed_at"])))
    settings = _settings()
    t0, c0 = time.perf_counter(), time.process_time()
    base = train.training_rows(obs, polls, pd.Timedelta(minutes=15))
    parts = climatology.parts(obs)
    cutoff = paris_midnight(days[-1] + timedelta(days=1))
    member = train.fit_member(base, parts, cutoff, settings)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    log.info("trained on %d days, %d rows, in %.0f s", len(days), len(base), train_wall)
    # the last day whose issue times all fall inside the recording (its last Paris date holds
    # only the hours after its last midnight), forecast by a member fitted before that day
    day = last_whole_day(days, obs["observed_at"].max())
    before = train.fit_member(base, parts, paris_midnight(day), settings)
    wall, cpu, rows = [], [], []
    for hh in ISSUE_TIMES:
        t = pd.Timestamp(f"{day} {hh}", tz=PARIS).tz_convert("UTC")
        w0, k0 = time.perf_counter(), time.process_time()
        out = predict.issue(obs, polls["observed_at"], [t], before)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - k0)
        rows.append(len(out))
    return {
        "days": len(days),
        "observations": len(obs),
        "training_rows": int(member.meta["rows_available"]),
        "rows_fitted": int(member.meta["rows"]),
        "trees": settings.trees,
        "threads": settings.threads,
        "train_seconds": round(train_wall, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "predict_day": day.isoformat(),
        "predict_rows": min(rows),  # the fewest rows of an issue time (stations x horizons)
        "predict_seconds_median": round(statistics.median(wall), 3),
        "predict_seconds_max": round(max(wall), 3),
        "predict_cpu_seconds_median": round(statistics.median(cpu), 3),
        "issue_times": len(ISSUE_TIMES),
    }


def last_whole_day(days: list[date], last_seen: pd.Timestamp) -> date:
    """The last Paris date whose last issue time is before the recording's last observation."""
    from pipeline.clock import PARIS

    whole = [d for d in days if pd.Timestamp(f"{d} {ISSUE_TIMES[-1]}", tz=PARIS) < last_seen]
    if not whole:
        raise ValueError(f"no day of the recording reaches {ISSUE_TIMES[-1]} Paris time")
    return whole[-1]


def _settings() -> Any:
    """The training size of params.yaml (forecast section), without a processed root."""
    from pipeline.settings.forecast import TrainSettings

    class Bench(TrainSettings):
        def check(self) -> None:  # the bench reads recorded files, not a processed root
            return None

    return Bench.build()
