"""Settings from the environment and params.yaml, and durations (no Spark needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.settings import project


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2 hours", 7200),
        ("15 minutes", 900),
        ("30s", 30),
        ("30 seconds", 30),
        ("1 day", 86400),
        ("3600", 3600),
        ("1.5h", 5400),
        ("500ms", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float):
    assert project.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "0 minutes", "-1 h", "5 fortnights"])
def test_parse_duration_rejects_nonsense_with_an_example(text: str):
    with pytest.raises(ValueError, match="bad duration"):
        project.parse_duration(text)


def test_spark_interval_is_whole_seconds_or_milliseconds():
    assert project.spark_interval("15 minutes") == "900 seconds"
    assert project.spark_interval("1.5s") == "1500 milliseconds"


def test_the_cli_and_config_load_without_spark():
    # `velib --help` and option checks must not pay for (or need) a JVM and pyspark.
    code = (
        "import sys, pipeline.cli, pipeline.settings.project as c; c.parse_duration('2 hours'); "
        "pipeline.cli.build_parser(); "
        "sys.exit('pyspark' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
