"""Kafka's own storage tool formats the local broker's log for any valid cluster id."""

from __future__ import annotations

from pathlib import Path

import pytest

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
