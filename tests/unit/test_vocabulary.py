"""The one indicator vocabulary: docs/outputs.md, Spark schemas and table columns derive from it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline import vocabulary

OUTPUTS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"


def test_the_outputs_page_states_every_output_column_as_defined():
    text = OUTPUTS.read_text(encoding="utf-8")
    for table in vocabulary.TABLES:
        assert vocabulary.markdown(table) in text, (
            f"docs/outputs.md: the {table} table is out of date"
        )


def test_names_are_unique_and_date_partitions_every_table():
    for columns in vocabulary.TABLES.values():
        names = vocabulary.names(columns)
        assert len(set(names)) == len(names)
        assert names[-1] == "date"


def test_conditions_work_on_pandas_as_documented():
    df = pd.DataFrame(
        {
            "bikes": [0, 3, 0],
            "docks": [5, 0, 0],
            "installed": [True, True, False],
            "renting": [True, False, True],
            "returning": [True, False, True],
        }
    )
    assert list(vocabulary.is_empty(df["bikes"])) == [True, False, True]
    assert list(vocabulary.is_full(df["docks"])) == [False, True, True]
    oos = vocabulary.is_out_of_service(df["installed"], df["renting"], df["returning"])
    assert list(oos) == [False, True, True]


def test_alert_kinds_are_the_conditions_plus_stale_and_back():
    assert set(vocabulary.ALERTS) == {*vocabulary.CONDITIONS, "stale", "back"}
