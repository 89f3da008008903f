"""pipeline.kafka.clients without a broker: the key serializer and secrets kept out of reprs.

How the clients are built and how topics are created is tested against the real
broker in tests/integration/test_kafka_io_broker.py.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pipeline.kafka import clients
from pipeline.kafka.clients import KeySerializer


@pytest.mark.parametrize(
    ("key", "expected"),
    [("16107", b"16107"), ("31024_relais", b"31024_relais"),
     ("Saint-Mandé", b"Saint-Mand\xc3\xa9"), (b"raw", b"raw"), (None, None),
     ("", b"")],
)  # fmt: skip
def test_key_serializer(key: Any, expected: bytes | None) -> None:
    assert KeySerializer().serialize("velib.station_status", None, key) == expected


def test_a_secret_in_the_settings_is_masked_in_their_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD", "hunter2-xyz")
    settings = clients._client_settings("b:9092")
    assert settings["sasl_plain_password"] == "hunter2-xyz"
    assert "hunter2-xyz" not in repr(settings)
