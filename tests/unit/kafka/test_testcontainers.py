"""The Testcontainers Kafka module the conftest fixture imports (no Docker engine needed)."""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

CONFTEST = Path(__file__).parents[2] / "conftest.py"


def test_the_fixture_imports_kafka_from_the_community_package():
    # testcontainers 4.15 moved Kafka to testcontainers.community.kafka; the old path
    # is a deprecated alias that may go away in a later release.
    imports = re.findall(r"from (testcontainers[\w.]*) import KafkaContainer", CONFTEST.read_text())
    assert imports == ["testcontainers.community.kafka"]


def test_the_community_module_provides_what_the_fixture_uses():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecated path would raise here
        from testcontainers.community.kafka import KafkaContainer

    assert callable(KafkaContainer.with_kraft)
    assert callable(KafkaContainer.get_bootstrap_server)


def test_the_old_path_is_only_a_deprecated_alias():
    sys.modules.pop("testcontainers.kafka", None)
    with pytest.warns(DeprecationWarning, match="testcontainers.community.kafka"):
        old = importlib.import_module("testcontainers.kafka")
    from testcontainers.community.kafka import KafkaContainer

    assert old.KafkaContainer is KafkaContainer
