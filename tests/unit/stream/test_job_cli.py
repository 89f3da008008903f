"""`velib stream` option errors: one line on stderr, exit 2, before Spark starts."""

from __future__ import annotations

import pytest

from pipeline.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--window", "soon"], "velib stream: --window: bad duration 'soon'"),
        (["--stale-after", "-5 minutes"], "velib stream: --stale-after: bad duration"),
        (["--processing-time", "0s"], "velib stream: --processing-time: bad duration '0s'"),
        (["--max-offsets-per-trigger", "0"], "velib stream: --max-offsets-per-trigger: must be"),
    ],
)
def test_bad_stream_options_are_one_line_usage_errors(capsys, argv, message):
    assert main(["stream", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message)
    assert "\n" not in err


def test_an_unknown_option_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stream", "--available-now"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --available-now" in err and err.count("\n") == 1
