"""Kafka login problems on the command line: one line, no secret, before any work starts."""

from __future__ import annotations

import os
import time

import pytest

from pipeline.cli import main
from pipeline.kafka import clients
from pipeline.kafka.login import addresses

PASSWORD = "typed-by-mistake-3d9e"


@pytest.fixture
def sasl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("KAFKA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_PLAIN_USERNAME", "velib")
    monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD", PASSWORD)


def test_an_error_line_never_shows_the_password(sasl_env, capsys):
    # A password pasted where a path goes comes back in the error: it must be scrubbed.
    assert main(["ingest", "--source", "replay", f"/nowhere/{PASSWORD}"]) == 2
    err = capsys.readouterr().err
    assert err == "velib ingest: no such file or folder: /nowhere/***\n"


def test_stream_rejects_settings_spark_cannot_take_before_starting(sasl_env, monkeypatch, capsys):
    monkeypatch.delenv("KAFKA_SASL_MECHANISM")
    assert main(["stream", "--bootstrap-servers", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "velib stream: KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_MECHANISM\n"
    )


def test_no_login_check_without_sasl(monkeypatch: pytest.MonkeyPatch):
    for key in [k for k in os.environ if k.startswith("KAFKA_")]:
        monkeypatch.delenv(key)
    started = time.monotonic()
    clients.check_login("127.0.0.1:1", timeout_s=5)  # nobody listens: it must not even try
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("b1:9092", [("b1", 9092)]),
        ("b1:9092, b2:9093", [("b1", 9092), ("b2", 9093)]),
        ("[::1]:9092", [("::1", 9092)]),
        ("nohost", []),
    ],
)
def test_bootstrap_addresses(text, expected):
    assert list(addresses(text)) == expected
