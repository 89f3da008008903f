"""Any station record round-trips through a capture CSV row unchanged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pipeline import record
from pipeline.capture.files import CAPTURE_HEADER, LINE_END, parse_row, render_row

# Real-shaped values: codes like '16107' and '31024_relais', GBFS ids beyond
# int32, names with apostrophes/commas/quotes/newlines and accents, counts that
# do not add up to capacity, capacity 0, timestamps back to 2018 and with
# microseconds (the seed's v1 polls are stamped with microsecond indexes).
codes = st.one_of(
    st.integers(1001, 95000).map(str),
    st.sampled_from(["16107", "31024_relais", "8052", "00901"]),
    st.text(min_size=1, max_size=12),
)
names = st.one_of(
    st.none(),
    st.sampled_from(["Jouffroy d'Abbans - Wagram", "Hôpital Mondor", 'Gare "Est", quai']),
    st.text(min_size=1, max_size=40),
)
counts = st.integers(0, 200)
maybe_counts = st.one_of(st.none(), counts)
coords = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
# hypothesis wants naive bounds; timezones= makes every generated value aware (UTC).
moments = st.datetimes(
    min_value=datetime(2018, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)

station_records = st.builds(
    record.StationRecord,
    station_code=codes,
    station_id=st.one_of(st.none(), st.integers(1, 2**63 - 1), st.integers(2**31, 2.1e10)),
    name=names,
    lat=coords,
    lon=coords,
    capacity=maybe_counts,
    commune=st.one_of(st.none(), st.sampled_from(["Paris", "Vincennes", "Saint-Ouen-sur-Seine"])),
    arrondissement=st.one_of(st.none(), st.integers(1, 20)),
    bikes_available=counts,
    mechanical_available=maybe_counts,
    ebike_available=maybe_counts,
    docks_available=counts,
    is_installed=st.booleans(),
    is_renting=st.booleans(),
    is_returning=st.booleans(),
    last_reported=moments,
    observed_at=moments,
    source=st.sampled_from(["gbfs", "opendata", "replay:gbfs", "replay:opendata-csv"]),
)
topics = st.from_regex(r"\A[a-zA-Z0-9._-]{1,40}\Z")


@given(
    st.lists(
        st.tuples(station_records, topics, st.integers(0, 1000), st.integers(0, 2**62)),
        min_size=1,
        max_size=5,
    )
)
def test_any_record_round_trips_through_a_csv_row(rows):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=LINE_END)
    writer.writerow(CAPTURE_HEADER)
    writer.writerows(render_row(*row) for row in rows)
    read = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert read[0] == list(CAPTURE_HEADER)
    assert [tuple(parse_row(cells)) for cells in read[1:]] == rows


@given(station_records)
def test_json_then_csv_is_the_same_record(rec):
    from pipeline.capture.files import parse_message

    assert parse_row(render_row(parse_message(record.to_json(rec)), "t", 0, 0)).record == rec


@given(station_records)
def test_fast_capture_cells_equal_the_record_path(rec):
    from pipeline.capture.files import date_folder, message_cells

    value = record.to_json(rec)
    assert message_cells(value) == (record.to_csv_row(rec), date_folder(rec))
