"""pipeline.settings.topics: replication derived from the cluster's size, or set."""

from __future__ import annotations

import pytest

from pipeline.settings.declare import SettingsError
from pipeline.settings.topics import TopicSettings


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_derived_from_the_broker_count(brokers: int, expected: tuple[int, int]) -> None:
    assert TopicSettings.build(environ={}, params={}).resolve(brokers) == expected


def test_set_by_the_environment_wins_over_the_cluster_size() -> None:
    env = {"VELIB_TOPIC_REPLICATION": "2", "VELIB_TOPIC_MIN_INSYNC": "2"}
    assert TopicSettings.build(environ=env, params={}).resolve(5) == (2, 2)
    only_rf = TopicSettings.build(environ={"VELIB_TOPIC_REPLICATION": "3"}, params={})
    assert only_rf.resolve(1) == (3, 2)  # the cluster then refuses it, with its own error


def test_a_min_isr_above_the_replication_is_one_line() -> None:
    bad = TopicSettings.build(environ={"VELIB_TOPIC_MIN_INSYNC": "3"}, params={})
    with pytest.raises(SettingsError, match="every write would be refused"):
        bad.resolve(1)
    with pytest.raises(SettingsError, match="replication: must be >= 0"):
        TopicSettings.build(environ={"VELIB_TOPIC_REPLICATION": "-1"}, params={})
