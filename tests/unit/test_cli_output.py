"""What the command line prints: rounded figures with their units, each summary once."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.cli import evaluate_lines

ROOT = Path(__file__).resolve().parents[2]
METRICS = ROOT / "reports" / "metrics" / "may2022-hourly" / "forecast.json"  # make repro's headline


def test_forecast_evaluate_prints_a_short_rounded_table_with_units() -> None:
    headline = json.loads(METRICS.read_text(encoding="utf-8"))
    lines = evaluate_lines(209_027, 182_116, headline)
    assert lines[0].startswith("forecast evaluate: 182,116 of 209,027 observed targets forecast")
    rows = lines[1:]
    assert len(rows) == len(headline) and all(len(line) <= 100 for line in lines)
    for key in headline:
        assert key not in " ".join(rows), f"{key} shown by its JSON name, not what it is"
    for row in rows:
        number = re.search(r"([+-]?\d+\.\d+)(%| bikes)$", row)
        assert number, row  # a unit on every figure
        assert len(number[1].split(".")[1]) <= 2, row  # rounded, not 16 digits
    mae = next(row for row in rows if "mean absolute error at +60 min" in row)
    assert mae.endswith(f"{headline['mae_h60']:.2f} bikes")
    skill = next(row for row in rows if "skill at +60 min against persistence" in row)
    assert skill.endswith(f"{100 * headline['skill_pers_h60']:+.1f}%")


def test_an_unknown_headline_number_is_still_rounded() -> None:
    assert evaluate_lines(1, 1, {"new_metric": 0.123456789})[1].split() == ["new_metric", "0.123"]
