"""LightGBM, imported in one place with the thread settings it needs here.

On a busy 2-core machine OpenMP's spin-waiting made ``n_jobs=2`` about 20x
slower than one thread (the prototype measured 77 s against 3.9 s), so
threads wait passively; this module sets that before LightGBM (and its
OpenMP runtime) is loaded, and every other module imports LightGBM from here.
``deterministic`` with a fixed row-wise histogram layout and seeds makes the
same data give the same trees on any thread count: outputs are byte-stable.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm  # noqa: E402

__all__ = ["lightgbm", "params"]


def params(threads: int, seed: int, trees: int) -> dict[str, object]:
    """The boosters' parameters (the prototype's, tuned on the two weeks of May 2022)."""
    return {
        "num_iterations": trees,
        "learning_rate": 0.08,
        "num_leaves": 31,
        "min_data_in_leaf": 200,
        "bagging_fraction": 0.5,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "lambda_l2": 1.0,
        "max_bin": 63,
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
