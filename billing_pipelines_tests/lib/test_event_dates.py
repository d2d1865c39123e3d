"""The event day a loader stores beside each usage record must be the day staging parses."""

from datetime import UTC, date, datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest

from billing_pipelines.lib.event_dates import EVENT_DATE_COLUMN, distinct_days, event_dates, with_event_dates
from billing_pipelines.lib.event_time_range import EventTimeRange

TEXTS = [
    "2026-09-01 23:59:59",  # SQLite text, UTC
    "2026-09-01T23:30:00-01:00",  # an offset that moves it to the next UTC day
    " 2026-09-02T00:00:00Z ",  # padded
    "2026-09-03",  # a bare date
    "",  # empty = absent
    "yesterday",  # unparsable
    None,
]


def staging_days(texts: list[str | None]) -> list[date | None]:
    """What dbt staging makes of the same values: parse_as(event_timestamp, 'timestamptz'), UTC day."""
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return [
            connection.execute(
                "SELECT CAST(TRY_CAST(NULLIF(TRIM(CAST(? AS VARCHAR)), '') AS TIMESTAMPTZ) AS DATE)", [text]
            ).fetchone()[0]
            for text in texts
        ]


def test_text_event_times_get_the_utc_day_staging_parses():
    days = event_dates(pa.array(TEXTS, pa.string())).to_pylist()
    assert days == [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 2), date(2026, 9, 3), None, None, None]
    assert days == staging_days(TEXTS)


def test_typed_timestamps_use_their_utc_day():
    berlin = timezone(timedelta(hours=2))
    moments = [datetime(2026, 9, 2, 1, 0, tzinfo=berlin), datetime(2026, 9, 2, 1, 0, tzinfo=UTC)]
    days = event_dates(pa.array(moments, pa.timestamp("us", tz="UTC"))).to_pylist()
    assert days == [date(2026, 9, 1), date(2026, 9, 2)]


def test_with_event_dates_keeps_rows_in_order_and_replaces_a_delivered_column():
    many = [f"2026-09-{day:02d} 12:00:00" for day in range(1, 31)] * 5_000
    table = pa.table({"event_timestamp": many, EVENT_DATE_COLUMN: pa.nulls(len(many), pa.date32())})
    dated = with_event_dates(table, "event_timestamp")
    assert dated.column_names == ["event_timestamp", EVENT_DATE_COLUMN]
    assert dated[EVENT_DATE_COLUMN].to_pylist()[:31] == [*(date(2026, 9, d) for d in range(1, 31)), date(2026, 9, 1)]
    assert distinct_days([dated]) == [date(2026, 9, d) for d in range(1, 31)]


def test_a_table_without_event_times_is_undated_not_dated_by_another_column():
    table = pa.table({"updated_at": ["2026-09-01 10:00:00"]})
    assert with_event_dates(table)[EVENT_DATE_COLUMN].to_pylist() == [None]


MOMENTS = [
    datetime(2026, 9, 1, 23, 59, 59, 999999, tzinfo=UTC),  # the last instant of a day
    datetime(2026, 9, 2, tzinfo=UTC),  # the first of the next
    datetime(1969, 12, 31, 12, tzinfo=UTC),  # before the epoch
    None,
]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "America/New_York", "+05:30"])
def test_typed_timestamps_get_the_day_staging_parses_in_any_unit_and_zone(unit, zone):
    if zone is None:  # naive: UTC wall time, as a source reading in a UTC session delivers it
        values = pa.array([m.replace(tzinfo=None) if m else None for m in MOMENTS], pa.timestamp(unit))
    else:
        values = pa.array(MOMENTS, pa.timestamp(unit, "UTC")).cast(pa.timestamp(unit, zone))
    as_text = [None if v is None else str(v) for v in values.to_pylist()]
    expected = staging_days(as_text)
    assert expected == [date(2026, 9, 1), date(2026, 9, 2), date(1969, 12, 31), None]
    assert event_dates(values).to_pylist() == expected
    assert event_dates(pa.chunked_array([values[:1], values[1:]])).to_pylist() == expected


def test_a_time_outside_the_event_time_range_has_no_day():
    arrived = datetime(2026, 11, 27, 9, tzinfo=UTC)
    in_range = EventTimeRange(date(2026, 8, 1), timedelta(minutes=60))
    texts = [
        "2026-07-31T23:59:59Z",  # before history_start
        "2026-08-01T01:00:00+01:00",  # its first instant, written with an offset
        "2026-11-27T10:00:00Z",  # the tolerance's last instant
        "2026-11-27T10:00:00.000001Z",  # past it
        "2031-05-05",
        "soon",
    ]
    table = pa.table(
        {"event_timestamp": texts, "_received_at": pa.array([arrived] * len(texts), pa.timestamp("us", tz="UTC"))}
    )
    days = with_event_dates(table, in_range=in_range)[EVENT_DATE_COLUMN].to_pylist()
    assert days == [None, date(2026, 8, 1), date(2026, 11, 27), None, None, None]
    assert with_event_dates(table)[EVENT_DATE_COLUMN].to_pylist()[0] == date(2026, 7, 31)  # no range: dated
