"""``velib forecast train``: rolling-origin members, then one model on every day.

Training rows are the observed targets of the recording (:mod:`targets`),
each with past-only features. A member with cut-off ``c`` (a Paris midnight)
learns from rows whose target poll came before ``c``, each with the
climatology of the days strictly before its own Paris issue day: exactly what
a forecast issued at that row's issue time could have had, never a later day
(the first day's rows have none, as a forecast issued then). It keeps the
climatology of all days before ``c`` for prediction. With ``rolling_days``
N, the last N Paris days each get a member trained on the days before them:
``predict`` uses, for each issue time, the newest member not after it, which
makes the evaluation a rolling origin over held-out days never used in
training. The last member, on every day, is the one to use live.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd

from pipeline.clock import paris_date, paris_dates, paris_midnight
from pipeline.forecast import bundle, climatology, features, history, model, observations, targets
from pipeline.settings import project
from pipeline.settings.declare import BadInput
from pipeline.settings.forecast import TrainSettings

log = logging.getLogger(__name__)

MIN_ROWS = 100  # fewer training rows than this: the member is not fitted


@dataclass
class TrainSummary:
    """What ``train`` did, for its one line."""

    observations: int = 0
    polls: int = 0
    days: int = 0
    rows: int = 0
    members: list[str] = field(default_factory=list)
    seconds: float = 0.0
    inferred_polls: bool = False

    def line(self) -> str:
        """One line for the terminal."""
        return (
            f"forecast train: observations={self.observations} polls={self.polls} days={self.days} "
            f"rows={self.rows} members={len(self.members)} "
            f"cutoffs={','.join(self.members) or '-'} seconds={self.seconds:.0f}"
            + (" poll_log=inferred" if self.inferred_polls else "")
        )


def training_rows(obs: pd.DataFrame, polls: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Every observed target with its past-only features (no climatology yet)."""
    stations = history.station_table(obs)
    hist = history.prepare(obs, stations, history.neighbour_pairs(stations))
    rows = targets.scored(obs, polls["observed_at"], step)
    base = features.build(hist, rows, None, polls["observed_at"])
    for c in ("target_obs_at", "bikes_target", "docks_target"):
        base[c] = rows[c].to_numpy()
    return base


def fit_member(
    base: pd.DataFrame, parts: pd.DataFrame, cutoff: pd.Timestamp, s: TrainSettings
) -> model.Member | None:
    """The member of cut-off ``cutoff``, or None without enough rows before it."""
    days = sorted(d for d in set(parts["day"]) if paris_midnight(d) < cutoff)
    train = base[base["target_obs_at"] < cutoff].copy()
    train = train[paris_dates(train["target_at"]).isin(days)]
    if len(days) < 1 or train["last_bikes"].notna().sum() < MIN_ROWS:
        log.warning("no member at %s: %d training rows", cutoff.isoformat(), len(train))
        return None
    earlier = {d: climatology.fit(parts, days[:i], paris_midnight(d)) for i, d in enumerate(days)}
    del earlier[days[0]]  # no day before the first: its rows have no climatology
    features.add_climatology(train, earlier)
    features.check_past_only(train, earlier)
    boosters, facts = model.fit(
        train,
        train["bikes_target"].astype(float),
        train["docks_target"].astype(float),
        features.FEATURES,
        rows=s.train_rows,
        trees=s.trees,
        threads=s.threads,
        seed=s.seed,
    )
    clim = climatology.fit(parts, days, cutoff)
    return model.Member(cutoff, list(features.FEATURES), clim, boosters, facts)


def cutoffs(days: list, rolling_days: int) -> list[pd.Timestamp]:
    """The last ``rolling_days`` Paris days with a day before them, and the day after the last."""
    rolling = [d for d in days[1:]][-rolling_days:] if rolling_days else []
    return [paris_midnight(d) for d in rolling] + [paris_midnight(days[-1] + timedelta(days=1))]


def run(s: TrainSettings) -> TrainSummary:
    """Learn from ``s.processed`` and write ``s.model_out``."""
    t0 = time.perf_counter()
    step = pd.Timedelta(project.parse_duration(s.every))
    stale = pd.Timedelta(project.parse_duration(s.stale_after))
    obs, polls, inferred = observations.load(s.processed, s.dates, stale)
    summary = TrainSummary(len(obs), len(polls), inferred_polls=inferred)
    if obs.empty:
        raise BadInput(f"no observation in {s.processed} on the dates asked")
    days = sorted(set(paris_dates(obs["observed_at"])))
    summary.days = len(days)
    base = training_rows(obs, polls, step)
    summary.rows = len(base)
    parts = climatology.parts(obs)
    members = []
    for cutoff in cutoffs(days, s.rolling_days):
        member = fit_member(base, parts, cutoff, s)
        if member is not None:
            members.append(member)
            summary.members.append(paris_date(cutoff).isoformat())
    if not members:
        raise BadInput(f"too little data in {s.processed} to fit any model")
    facts = {
        "horizons": list(targets.HORIZONS),
        "step": s.every,
        "trees": s.trees,
        "train_rows": s.train_rows,
        "seed": s.seed,
        "dates": [days[0].isoformat(), days[-1].isoformat()],
        "inferred_polls": inferred,
    }
    bundle.save(members, s.model_out, facts)
    summary.seconds = time.perf_counter() - t0
    return summary
