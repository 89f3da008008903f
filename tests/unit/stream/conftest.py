"""The session's SparkSession, set as the stream sets it for a batch of a few rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def small_batch_settings() -> dict[str, str]:
    """What :class:`BatchStep` sets for a batch far below ``INTERPRETED_BELOW`` values.

    One shuffle partition and interpreted plans: the path every live poll's batch
    takes (the compiled path is the integration tests' and the bench's larger batches).
    Measured on one test run side by side with the session's defaults (two partitions,
    compiled), on a machine at load ~20: 90 CPU-seconds against 128 for the test's
    process tree (Spark's start included), 408 s against 512 s of wall time.
    """
    from pipeline.stream.microbatch import CODEGEN

    return {"spark.sql.shuffle.partitions": "1", **CODEGEN[False]}


@pytest.fixture(scope="module")
def spark(spark) -> Iterator[Any]:  # noqa: ANN001 - overrides the session fixture of tests/conftest.py
    """The shared session with a small batch's SQL settings, restored after the module.

    Module-scoped, so module fixtures (a module's records frame) can build on it; a
    module that follows (an integration test's stream) finds the session's settings
    as it left them: each batch sets its own anyway.
    """
    chosen = small_batch_settings()
    before = {key: spark.conf.get(key, None) for key in chosen}
    for key, value in chosen.items():
        spark.conf.set(key, value)
    try:
        yield spark
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
