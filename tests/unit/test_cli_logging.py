"""The velib command logs what a user needs, and no library notice that reads as a fault."""

from __future__ import annotations

import logging

import pytest

from pipeline.cli import configure_logging

SLOW = (
    "Task <kafka.net.selector.Task object at 0x7f1d3a0b92d0> ran for 0.103s (>0.100s "
    "threshold). It is blocking the event loop -- likely a tight sync loop inside a "
    "coroutine. Other pollers will time out."
)


@pytest.fixture
def selector():
    logger = logging.getLogger("kafka.net.selector")
    saved = list(logger.filters)
    logger.filters[:] = []  # an earlier velib command in this process may have set it
    yield logger
    logger.filters[:] = saved


def test_kafka_slow_task_notice_is_dropped_other_warnings_kept(selector, caplog):
    configure_logging(verbose=False)
    configure_logging(verbose=False)  # every velib command configures once; twice is harmless
    assert len(selector.filters) == 1
    with caplog.at_level(logging.WARNING, logger="kafka"):
        selector.warning(SLOW)  # the very line a `make run` printed (kafka-python 3.0.12)
        selector.warning("Task %s left RUNNING after step; demoting to UNSCHEDULED", "t")
    assert [r.getMessage() for r in caplog.records] == [
        "Task t left RUNNING after step; demoting to UNSCHEDULED"
    ]


def test_verbose_keeps_the_slow_task_notice(selector, caplog):
    configure_logging(verbose=False)
    configure_logging(verbose=True)  # the last command's choice holds
    with caplog.at_level(logging.WARNING, logger="kafka"):
        selector.warning(SLOW)
    assert [r.getMessage() for r in caplog.records] == [SLOW]
