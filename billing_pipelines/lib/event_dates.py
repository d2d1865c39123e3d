"""The UTC day of each usage record, stored beside it in raw as `_event_date` (load metadata).

A run over a window rebuilds the canonical usage of those days only, so it must find their
records in raw without reading the whole history. Raw keeps the event time as delivered (text,
or the source's own type) and staging parses it; a stored DATE next to it lets DuckDB skip every
row group outside the window. The day is computed with DuckDB and the very expression staging
uses (`parse_as(event_timestamp, 'timestamptz')`: trimmed text, empty = absent, TRY_CAST, UTC),
so the two agree; a value that does not parse gets NULL, and undated rows are read by every
window (staging's own parse still decides whether a record is valid).

Given the event-time range (`EventTimeRange`), a record whose time lies outside it gets NULL
too: no partition holds it (before `history_start`, or too far after its arrival), so it is
read by every window and staging quarantines it with that reason, where a dated row would wait
for the run of a day that never comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipelines.lib.event_time_range import EventTimeRange

EVENT_DATE_COLUMN = "_event_date"
ARRIVAL_COLUMN = "_received_at"
"""When a landing row arrived: the range's future bound is counted from it."""
EVENT_TIME_COLUMN = "event_timestamp"
"""The raw usage column staging reads the event time from, in every source (docs/raw-contract.md).
Not a SQL source's cursor: a cursor on another column would date rows by the wrong day."""

_PARSED_EVENT_TIME = "TRY_CAST(NULLIF(TRIM(CAST(event_time AS VARCHAR)), '') AS TIMESTAMPTZ)"
_EVENT_DATE_SQL = f"SELECT CAST({_PARSED_EVENT_TIME} AS DATE) AS day FROM batch"


def _in_range_date_sql(in_range: EventTimeRange) -> str:
    """The UTC day of each event time, NULL outside `in_range` (the bounds are a date and a
    number of seconds from typed config, never text a user wrote into a file)."""
    start = in_range.start.isoformat()
    seconds = in_range.future_tolerance.total_seconds()
    return (
        f"SELECT CASE WHEN event_time < TIMESTAMPTZ '{start}'"
        f" OR event_time > arrival + to_microseconds({int(seconds * 1_000_000)}) THEN NULL"
        " ELSE CAST(event_time AS DATE) END AS day"
        f" FROM (SELECT {_PARSED_EVENT_TIME} AS event_time, arrival FROM batch)"
    )


def event_dates(
    values: pa.Array | pa.ChunkedArray,
    in_range: EventTimeRange | None = None,
    arrivals: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Array | pa.ChunkedArray:
    """The UTC day of each event time (text or timestamp), NULL where it does not parse, and,
    given `in_range` and each record's arrival, NULL where the time lies outside the range."""
    if in_range is None and pa.types.is_timestamp(values.type):
        return timestamp_dates(values)
    batch = {"event_time": values} if in_range is None else {"event_time": values, "arrival": arrivals}
    connection = duckdb.connect(config={"threads": 1})  # one thread: rows keep their order
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("batch", pa.table(batch))
        sql = _EVENT_DATE_SQL if in_range is None else _in_range_date_sql(in_range)
        days = connection.sql(sql).to_arrow_table()["day"]
    finally:
        connection.close()
    return days.combine_chunks().cast(pa.date32())


def timestamp_dates(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The UTC day of typed timestamps, computed by Arrow (no text round trip). An aware
    timestamp is stored as UTC, so it is read as its UTC wall time; a naive one is UTC already,
    as staging reads it (the warehouse session runs in UTC)."""
    utc_wall_time = values.type if values.type.tz is None else pa.timestamp(values.type.unit)
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([chunk.view(utc_wall_time) for chunk in values.chunks], utc_wall_time).cast(pa.date32())
    return values.view(utc_wall_time).cast(pa.date32())


def with_event_dates(
    table: pa.Table, event_time_column: str = EVENT_TIME_COLUMN, in_range: EventTimeRange | None = None
) -> pa.Table:
    """`table` with its `_event_date` column (replaced if the source already sent one); all
    NULL (undated: read by every window) when the table has no event-time column. With
    `in_range`, the table's rows carry their arrival (`_received_at`, landing rows) and a time
    outside the range is undated too."""
    if event_time_column in table.column_names:
        arrivals = table[ARRIVAL_COLUMN] if in_range is not None else None
        days = event_dates(table[event_time_column], in_range, arrivals)
    else:
        days = pa.nulls(table.num_rows, pa.date32())
    if EVENT_DATE_COLUMN in table.column_names:
        table = table.drop_columns([EVENT_DATE_COLUMN])
    return table.append_column(EVENT_DATE_COLUMN, days)


def distinct_days(tables: Iterable[pa.Table]) -> list[date]:
    """The days the tables' `_event_date` columns hold, sorted (undated rows have none)."""
    days: set[date] = set()
    for table in tables:
        days.update(pc.unique(table[EVENT_DATE_COLUMN]).drop_null().to_pylist())
    return sorted(days)
