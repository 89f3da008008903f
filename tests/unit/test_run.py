"""velib run's choice of snapshots: a recording is a period of Paris dates (base.dates)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline import run

RAW = Path(__file__).resolve().parents[2] / "data" / "raw" / "opendata-history"


def names(dates: tuple[date, date] | None) -> list[str]:
    return [Path(s.origin).name for s in run.merged_snapshots([RAW], run.on_dates(dates))]


def test_the_dates_are_paris_dates_not_utc_dates():
    # 22:40 and 23:39 UTC on 12 May are 00:40 and 01:39 on 13 May in Paris (UTC+2)
    friday = names((date(2022, 5, 13), date(2022, 5, 13)))
    assert friday == [
        "velib-opendata-2022-05-12T224007Z.csv.gz",
        "velib-opendata-2022-05-12T233916Z.csv.gz",
    ]
    thursday = names((date(2022, 5, 12), date(2022, 5, 12)))
    assert thursday[0] == "velib-opendata-2022-05-12T102218Z.csv.gz"
    assert thursday[-1] == "velib-opendata-2022-05-12T213534Z.csv.gz"
    assert len(thursday) == 22


@pytest.mark.slow  # reads the time of every file of the two-week recording
def test_a_range_keeps_both_ends_and_no_range_keeps_everything():
    everything = names(None)
    assert len(everything) == len(list(RAW.glob("*.csv.gz")))
    assert names((date(2022, 5, 12), date(2022, 5, 15))) == everything
    # the last two snapshots of 14 May UTC were taken on Sunday 15 May in Paris
    assert names((date(2022, 5, 12), date(2022, 5, 14))) == everything[:-2]
    assert names((date(2022, 5, 16), date(2022, 5, 25))) == []
