"""Intervals on skills: a block bootstrap over (day, station) blocks.

A skill is a ratio of two sums of losses over the same targets (1 - model /
baseline). Its targets are not independent: one station's errors on one day
move together (a station that fills up early is wrong at every horizon and
issue time of that morning). So the bootstrap resamples whole blocks, by
default one per Paris issue day and station, and recomputes the ratio of
sums; the interval is the percentile interval of the replicates. Each block's
weight in a replicate is an independent Poisson(1) count (the Poisson
bootstrap: Hanley & MacGibbon 2006; Chamandy et al. 2012), the large-sample
equivalent of drawing the blocks with replacement, which lets one set of
weights, drawn once for every block of an evaluation, serve any group of its
targets (an hour, a day, an area) without a new draw.
With one day in a period the blocks are stations of that day: the interval
then says nothing of how another day would go, which the report says.

Every replicate uses the same block weights for every model and group, so the
skills of several models are paired: their intervals are comparable and their
differences are not inflated by independent draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REPLICATES = 1000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Blocks:
    """The bootstrap weights of a set of targets: ``weights[r, b]`` copies of block ``b``.

    ``codes`` maps each row to its block; :meth:`take` keeps some rows (a
    group) with the same weights.
    """

    codes: np.ndarray
    weights: np.ndarray

    @property
    def n_blocks(self) -> int:
        """How many blocks the group has."""
        return int(self.weights.shape[1])

    def take(self, positions: np.ndarray) -> Blocks:
        """The rows at ``positions`` (a group), with the same blocks and weights."""
        return Blocks(self.codes[positions], self.weights)

    def used(self) -> int:
        """How many blocks the rows fall in."""
        return int(len(np.unique(self.codes)))


def blocks(keys: pd.DataFrame, replicates: int = REPLICATES, seed: int = SEED) -> Blocks:
    """Block weights for rows keyed by ``keys`` (e.g. issue day and station), seeded.

    Each replicate gives each block an independent Poisson(1) weight.
    """
    codes = keys.groupby(list(keys.columns), sort=True, observed=True).ngroup().to_numpy()
    n = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    weights = rng.poisson(1.0, size=(replicates, n)).astype(np.float64)
    return Blocks(codes, weights)


def ratio(b: Blocks, numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    """The replicates of sum(numerator) / sum(denominator) (rows missing either: left out)."""
    num = numerator.to_numpy(dtype=float)
    den = denominator.to_numpy(dtype=float)
    ok = ~(np.isnan(num) | np.isnan(den))
    sums_num = np.bincount(b.codes[ok], weights=num[ok], minlength=b.n_blocks)
    sums_den = np.bincount(b.codes[ok], weights=den[ok], minlength=b.n_blocks)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (b.weights @ sums_num) / (b.weights @ sums_den)


def interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of the replicates (NaN when none is defined)."""
    r = replicates[np.isfinite(replicates)]
    if not len(r):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(r, [tail, 1.0 - tail])
    return float(lo), float(hi)


def skill(b: Blocks, loss: pd.Series, baseline_loss: pd.Series) -> tuple[float, float, float]:
    """1 - sum(loss) / sum(baseline_loss) on the rows where both are known, and its interval.

    The same skill as :func:`pipeline.forecast.metrics.skill` of the two means
    (the rows are the same), with the block bootstrap's percentile interval.
    """
    ok = loss.notna() & baseline_loss.notna()
    total = float(baseline_loss[ok].sum())
    point = 1.0 - float(loss[ok].sum()) / total if total else float("nan")
    lo, hi = interval(1.0 - ratio(b, loss.where(ok), baseline_loss.where(ok)))
    return point, lo, hi


def share(b: Blocks, hits: pd.Series) -> tuple[float, float, float]:
    """The mean of 0/1 ``hits`` (e.g. inside the interval) and its interval."""
    ones = pd.Series(np.where(hits.isna(), np.nan, 1.0), index=hits.index)
    point = float(hits.mean()) if hits.notna().any() else float("nan")
    lo, hi = interval(ratio(b, hits.astype(float), ones))
    return point, lo, hi
