"""Only what the user can fix, or the Kafka cluster's state, is one line.

A bug keeps its traceback and fails the command.
"""

from __future__ import annotations

import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, NotEnoughReplicasError

from pipeline import cli
from pipeline.kafka.replicas import DeliveryFailed, OffsetsUnavailable
from pipeline.settings.declare import BadInput, MissingInput, UserError


def _failing(monkeypatch, exc: BaseException) -> None:
    def handler(_settings):
        raise exc

    original = cli.build_parser

    def parser():
        p = original()
        p.set_defaults(handler=handler)
        for action in p._subparsers._group_actions:  # every subcommand runs the failing handler
            for sub in action.choices.values():
                sub.set_defaults(handler=handler)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)


@pytest.mark.parametrize(
    "exc", [UserError("no broker: start one"), BadInput("no data on 2022-05-12"), MissingInput("x")]
)
def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys, exc):
    _failing(monkeypatch, exc)
    assert cli.main(["history", "."]) == 2
    assert capsys.readouterr().err == f"velib history: {exc}\n"


@pytest.mark.parametrize(
    "exc", [ValueError("a bug"), OSError(5, "Input/output error"), KeyError("status")]
)
def test_any_other_error_keeps_its_traceback(monkeypatch, capsys, exc):
    _failing(monkeypatch, exc)
    with pytest.raises(type(exc)):
        cli.main(["history", "."])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            KafkaTimeoutError("Failed to get offsets by timestamps in 30000 ms"),
            "KafkaTimeoutError: Failed to get offsets by timestamps in 30000 ms",
        ),
        (KafkaTimeoutError(), "KafkaTimeoutError"),
        (NotEnoughReplicasError(), "[Error 19] NotEnoughReplicasError"),
        (KafkaConnectionError("111 ECONNREFUSED\nmore"), "KafkaConnectionError: 111 ECONNREFUSED"),
        (
            DeliveryFailed(
                "NotEnoughReplicas: 3 partition(s) ...; replicas missing on broker(s) 2"
            ),
            "NotEnoughReplicas: 3 partition(s) ...; replicas missing on broker(s) 2",
        ),
        (
            OffsetsUnavailable("could not read where t starts or ends: x"),
            "could not read where t starts or ends: x",
        ),
    ],
)
def test_a_kafka_error_is_one_named_line_and_exit_2(monkeypatch, capsys, exc, line):
    """The cluster's state (brokers down, a refused write, a timeout) is no bug: no traceback."""
    _failing(monkeypatch, exc)
    assert cli.main(["ingest"]) == 2
    assert capsys.readouterr().err == f"velib ingest: {line}\n"
