"""What the command line prints: rounded figures with their units, each summary once."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.cli import evaluate_lines

ROOT = Path(__file__).resolve().parents[2]
METRICS = ROOT / "reports" / "metrics" / "may2022-hourly" / "forecast.json"  # make repro's headline


def test_forecast_evaluate_prints_a_short_rounded_table_per_horizon() -> None:
    headline = json.loads(METRICS.read_text(encoding="utf-8"))
    final = {k.removeprefix("final_test_"): v for k, v in headline.items()
             if k.startswith("final_test_")}  # fmt: skip
    served = {h: headline[f"served_h{h}"] for h in (15, 30, 60)}
    lines = evaluate_lines(209_027, 182_116, served, "final test", final)
    assert lines[0].startswith("forecast evaluate: 182,116 of 209,027 observed targets scored")
    assert all(len(line) <= 100 for line in lines) and len(lines) == 5
    for key in headline:
        assert key not in " ".join(lines), f"{key} shown by its JSON name, not what it is"
    h60 = lines[4].split()
    assert h60[:2] == ["+60", "min"] and h60[2] == served[60]
    ratio = final["mae_ratio_served_vs_persistence_h60"]
    lo, hi = (final[f"mae_ratio_served_vs_persistence_h60_{e}"] for e in ("lo", "hi"))
    assert f"{ratio:.3f} [{lo:.3f}, {hi:.3f}]" in lines[4]
    assert f"{final['coverage80_share_h60']:.1%}" in lines[4]
    for number in re.findall(r"\d+\.\d+", " ".join(lines[1:])):
        assert len(number.split(".")[1]) <= 3, number  # rounded, not 16 digits


def test_a_missing_metric_shows_as_not_available() -> None:
    line = evaluate_lines(1, 1, {15: "persistence"}, "development", {})[2]
    assert line.split()[:3] == ["+15", "min", "persistence"] and line.count("n/a") == 4
