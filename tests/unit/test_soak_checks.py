"""The soak's replay comparison of ``_rejected/``: repeated polls by their identity."""

from __future__ import annotations

import json

import pyarrow as pa

from pipeline.stream.observation import REPEATED
from soak.checks import _comparable, repeated_polls_by_identity


def _poll(emitted: int, disappeared: list[str]) -> str:
    return json.dumps(
        {
            "source": "gbfs",
            "observed_at": "2022-05-12T10:00:00+00:00",
            "polled_at": "2022-05-12T10:00:05+00:00",
            "emitted": emitted,
            "disappeared": disappeared,
        }
    )


def _rejected(values: list[str], reasons: list[str]) -> pa.Table:
    n = len(values)
    return pa.table(
        {
            "key": ["gbfs"] * n,
            "partition": [0] * n,
            "offset": list(range(n)),
            "reason": reasons,
            "value": values,
            "topic": ["velib.polls"] * n,
        }
    )


def test_a_repeated_poll_sent_by_a_restarted_ingest_equals_the_replays() -> None:
    live = _rejected([_poll(1222, ["16107"])], [REPEATED])
    replay = _rejected([_poll(1, [])], [REPEATED])
    assert _comparable(live, "_rejected").equals(_comparable(replay, "_rejected"))


def test_a_repeated_poll_of_another_feed_time_differs() -> None:
    other = _poll(1, []).replace("10:00:05", "10:01:05")
    assert not _comparable(_rejected([_poll(1, [])], [REPEATED]), "_rejected").equals(
        _comparable(_rejected([other], [REPEATED]), "_rejected")
    )


def test_any_other_rejected_value_is_compared_whole() -> None:
    table = _rejected([_poll(1222, []), "not json"], ["poll emitted mistyped", "not JSON"])
    assert repeated_polls_by_identity(table).equals(table)
    changed = _rejected([_poll(1, []), "not json"], ["poll emitted mistyped", "not JSON"])
    assert not _comparable(table, "_rejected").equals(_comparable(changed, "_rejected"))
