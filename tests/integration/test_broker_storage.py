"""The local broker: storage formatted for any cluster id, ready when it says it is."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from pipeline.kafka import clients
from pipeline.kafka.broker import LocalBroker

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cluster_id", ["-AAAAAAAAAAAAAAAAAAAAA", "_AAAAAAAAAAAAAAAAAAAAA"])
def test_storage_formats_ids_that_look_like_options(cluster_id: str, tmp_path: Path, java: str):
    # One KRaft id in 64 starts with "-"; kafka-storage used to read it as an option and
    # the broker failed to start at random (make test, make run, CI).
    broker = LocalBroker(data_dir=tmp_path)
    broker.format_storage(cluster_id)
    meta = (tmp_path / "logs" / "meta.properties").read_text(encoding="utf-8")
    assert f"cluster.id={cluster_id}\n" in meta


def _join_group_at_once(broker: LocalBroker) -> int:
    """What capture does right after ``velib run`` starts its broker: join a group, read."""
    clients.ensure_topic(broker.bootstrap, "t", 3)
    producer = clients.producer(broker.bootstrap)
    producer.send("t", key="16107", value=b"{}")
    producer.flush()
    producer.close()
    consumer = clients.consumer(broker.bootstrap, "velib-capture")
    consumer.subscribe(["t"])
    got, deadline = 0, time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = sum(len(batch) for batch in consumer.poll(500).values())
    consumer.commit()
    consumer.close()
    return got


@pytest.mark.slow  # two broker starts
def test_a_group_joining_at_once_meets_a_ready_coordinator(tmp_path: Path, java: str, caplog):
    """No "Marking the coordinator dead ... NotCoordinatorError" on a normal start.

    The group coordinator loads __consumer_offsets a moment after the broker first
    answers; a group that joined in that moment made kafka-python warn as if
    something had failed. Measured without the wait: a process's first broker
    often escapes it, later ones (tests, the live watchdog's restarts) rarely do,
    hence two brokers here.
    """
    caplog.set_level(logging.INFO, logger="kafka")
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        with LocalBroker(data_dir=tmp_path / run) as broker:
            assert _join_group_at_once(broker) == 1
    noise = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in noise if "coordinator" in m.lower()], noise
