"""The block bootstrap's intervals: seeded, paired, blocks kept whole, the point inside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.forecast import bootstrap, metrics


def keyed(days: int, stations: int, per_block: int) -> pd.DataFrame:
    n = days * stations * per_block
    i = np.arange(n)
    return pd.DataFrame(
        {"day": i // (stations * per_block), "station": (i // per_block) % stations}
    )


def test_each_block_weighs_one_on_average_and_the_seed_fixes_the_weights():
    keys = keyed(3, 4, 5)
    b = bootstrap.blocks(keys, replicates=2000, seed=7)
    assert b.n_blocks == 12 and b.weights.shape == (2000, 12)
    assert (b.weights >= 0).all() and (b.weights % 1 == 0).all()
    assert b.weights.mean() == pytest.approx(1.0, abs=0.05)
    assert b.weights.var() == pytest.approx(1.0, abs=0.1)  # Poisson(1)
    assert (b.codes[:5] == b.codes[0]).all()  # the 5 rows of one (day, station) share a block
    np.testing.assert_array_equal(b.weights, bootstrap.blocks(keys, 2000, seed=7).weights)
    assert not np.array_equal(b.weights, bootstrap.blocks(keys, 2000, seed=8).weights)


def test_a_group_taken_from_all_targets_has_the_interval_of_its_own_draw():
    rng = np.random.default_rng(3)
    keys = keyed(4, 50, 6)
    base = pd.Series(rng.gamma(2.0, 1.0, len(keys)))
    model = base * pd.Series(rng.uniform(0.5, 1.1, len(keys)))
    first_day = np.flatnonzero(keys["day"] == 0)
    taken = bootstrap.blocks(keys).take(first_day)
    assert taken.used() == 50
    own = bootstrap.blocks(keys.iloc[first_day])
    got = bootstrap.skill(taken, model.iloc[first_day], base.iloc[first_day])
    alone = bootstrap.skill(own, model.iloc[first_day], base.iloc[first_day])
    assert got[0] == alone[0]
    assert got[1] == pytest.approx(alone[1], abs=0.02) and got[2] == pytest.approx(
        alone[2], abs=0.02
    )


def test_the_skill_is_the_plain_skill_of_the_means_and_lies_inside_its_interval():
    rng = np.random.default_rng(1)
    keys = keyed(4, 30, 6)
    base = pd.Series(rng.gamma(2.0, 1.0, len(keys)))
    model = base * pd.Series(rng.uniform(0.6, 1.0, len(keys)))
    model.iloc[3] = np.nan  # a row one side lacks is left out of both
    point, lo, hi = bootstrap.skill(bootstrap.blocks(keys), model, base)
    ok = model.notna()
    assert point == pytest.approx(metrics.skill(model[ok].mean(), base[ok].mean()))
    assert lo < point < hi


def test_a_skill_the_same_in_every_block_has_no_width():
    keys = keyed(3, 10, 4)
    base = pd.Series(np.arange(1, len(keys) + 1, dtype=float))
    point, lo, hi = bootstrap.skill(bootstrap.blocks(keys), 0.8 * base, base)
    assert point == pytest.approx(0.2) and lo == pytest.approx(0.2) and hi == pytest.approx(0.2)


def test_rows_that_move_together_widen_the_interval_when_blocks_are_kept_whole():
    # each (day, station) block is either much better or much worse than the baseline
    keys = keyed(2, 40, 12)
    block = keys.groupby(["day", "station"]).ngroup()
    ratio = np.where(block % 2 == 0, 0.5, 1.3)
    base = pd.Series(1.0, index=keys.index)
    model = pd.Series(ratio, index=keys.index)
    _, lo, hi = bootstrap.skill(bootstrap.blocks(keys), model, base)
    rows = pd.DataFrame({"row": np.arange(len(keys))})
    _, lo_rows, hi_rows = bootstrap.skill(bootstrap.blocks(rows), model, base)
    assert (hi - lo) > 2.5 * (hi_rows - lo_rows)  # ~sqrt(12) wider


def test_a_share_and_its_interval_stay_between_0_and_1():
    keys = keyed(2, 20, 5)
    hits = pd.Series((np.arange(len(keys)) % 5 != 0).astype(float))
    hits.iloc[0] = np.nan
    point, lo, hi = bootstrap.share(bootstrap.blocks(keys), hits)
    assert point == pytest.approx(hits.mean())
    assert 0.0 <= lo <= point <= hi <= 1.0


def test_an_empty_group_gives_no_interval():
    b = bootstrap.blocks(pd.DataFrame({"day": pd.Series([], dtype="int64")}))
    point, lo, hi = bootstrap.skill(b, pd.Series([], dtype=float), pd.Series([], dtype=float))
    assert np.isnan(point) and np.isnan(lo) and np.isnan(hi)
