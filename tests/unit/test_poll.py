"""The poll record: JSON round trip, strict parsing, the Spark schema and docs from one list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import poll

OUTPUTS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
AT = datetime(2022, 5, 13, 2, 44, 24, tzinfo=UTC)


def sample(**changes) -> poll.Poll:
    values = {
        "source": "replay:opendata-csv",
        "origin": "data/raw/velib-opendata-2022-05-13T024424Z.csv.gz",
        "observed_at": AT,
        "polled_at": None,
        "feed_time": None,
        "ok": True,
        "reason": None,
        "stations": 2,
        "emitted": 1,
        "rejected": 0,
        "listed": ("16107", "9020"),
        "disappeared": ("4001",),
    }
    return poll.Poll(**{**values, **changes})


def test_json_round_trip_in_field_order_with_utc_times_and_explicit_nulls() -> None:
    p = sample(polled_at=AT.replace(second=30))
    data = json.loads(poll.to_json(p))
    assert list(data) == list(poll.FIELD_NAMES)
    assert data["observed_at"] == "2022-05-13T02:44:24Z" and data["feed_time"] is None
    assert data["listed"] == ["16107", "9020"] and data["schema_version"] == poll.SCHEMA_VERSION
    assert poll.from_json(poll.to_json(p)) == p


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ok": "yes"}, "ok='yes' is not a bool"),
        ({"stations": True}, "stations=True is not a int"),
        ({"listed": "16107"}, "listed is not a list of codes"),
        ({"observed_at": None}, "observed_at is required"),
        ({"schema_version": 2}, "unsupported poll schema_version 2"),
    ],
)
def test_a_mistyped_poll_is_refused_with_the_field_named(change, message) -> None:
    data = {**json.loads(poll.to_json(sample())), **change}
    with pytest.raises(ValueError, match=message):
        poll.from_json(json.dumps(data))


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        poll.from_json("[1, 2]")


def test_the_spark_schema_is_the_field_list() -> None:
    from pyspark.sql import types as T

    schema = poll.spark_schema()
    assert schema.fieldNames() == list(poll.FIELD_NAMES)
    assert schema["listed"].dataType == T.ArrayType(T.StringType(), containsNull=False)
    assert schema["polled_at"].dataType == T.TimestampType() and schema["polled_at"].nullable


def test_the_outputs_page_states_the_polls_table_as_defined() -> None:
    assert poll.markdown() in OUTPUTS.read_text(encoding="utf-8")
