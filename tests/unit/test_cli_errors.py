"""Only what the user can fix is one line: a bug keeps its traceback and fails the command."""

from __future__ import annotations

import pytest

from pipeline import cli
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
