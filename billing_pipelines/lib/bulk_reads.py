"""Reading a window of PostgreSQL or MySQL/MariaDB at bulk speed, as Arrow batches.

A history of usage is millions of rows: read row by row through SQLAlchemy it takes minutes per
million, read as the drivers' own Arrow record batches seconds. PostgreSQL is read with ADBC
(its COPY stream, in record batches of ~16 MB), MySQL and MariaDB with ConnectorX (record
batches of the run's batch size); either way a run holds one batch at a time, whatever the
window's size.

Values arrive as the SQLAlchemy reader delivered them, so raw means the same whichever reader
loaded it: columns the drivers carry natively (numbers, booleans, text, bytes, dates, times,
timestamps) as they come, and the others (decimals, JSON, UUIDs, intervals, arrays, …) as the
text the database itself writes for them — every digit of a decimal, JSON as JSON text. The
session runs in UTC: `timestamptz` arrives in UTC and MySQL `TIMESTAMP` as naive UTC like
`DATETIME`. Neither driver binds parameters while streaming, so the window bounds are written
into the statement as typed literals from datetimes only (`sql_queries.render_window`).

The URL carries credentials: it goes to the driver and nowhere else; a driver error is re-raised
with any part of the URL that could hold a secret blanked out.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import adbc_driver_postgresql.dbapi as adbc_postgres
import connectorx
import pyarrow as pa
from sqlalchemy.engine import URL

from billing_pipelines.lib.arrow_batches import rebatched
from billing_pipelines.lib.sql_queries import NAIVE_UTC_DIALECTS, POSTGRES, described_sql, text_cast_sql

BULK_DIALECTS = frozenset({POSTGRES, *NAIVE_UTC_DIALECTS})
"""Dialects read in bulk; every other SQLAlchemy dialect (SQLite, …) is read through SQLAlchemy."""
POSTGRES_SESSION = "SET TIME ZONE 'UTC'"
MYSQL_SESSION = "SET time_zone = '+00:00'"
POSTGRES_TYPE = b"POSTGRESQL:type"
"""Field metadata in which ADBC names a column's PostgreSQL type."""
REINTERPRETED_POSTGRES_TYPES = frozenset({b"money"})
SQLALCHEMY_ONLY_OPTIONS = frozenset({"charset"})
"""MySQL URL options meant for the Python driver that ConnectorX refuses (it reads UTF-8 anyway)."""
_NATIVE_TYPES = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
    pa.types.is_date,
    pa.types.is_time,
    pa.types.is_timestamp,
    pa.types.is_null,
)
_WIDER = {
    **dict.fromkeys([pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32()], pa.int64()),
    **dict.fromkeys([pa.float16(), pa.float32()], pa.float64()),
}


class SourceReadError(RuntimeError):
    """The source database refused or broke off a read (the message names no credential)."""


def bulk_batches(url: URL, sql: str, batch_rows: int) -> Iterator[pa.Table]:
    """The rows of `sql` (a window's statement) as Arrow tables of at most `batch_rows` rows."""
    dialect = url.get_backend_name()
    if dialect not in BULK_DIALECTS:
        raise ValueError(f"no bulk reader for the {dialect} dialect")
    uri = driver_uri(url)
    batches = _postgres_batches(uri, sql) if dialect == POSTGRES else _mysql_batches(uri, sql, batch_rows)
    yield from _without_credentials((widened(table) for table in rebatched(batches, batch_rows)), url)


def _postgres_batches(uri: str, sql: str) -> Iterator[pa.RecordBatch]:
    with adbc_postgres.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(POSTGRES_SESSION)
        columns = cursor.adbc_execute_schema(sql)
        cursor.execute(text_cast_sql(sql, columns.names, text_columns(columns), POSTGRES))
        yield from cursor.fetch_record_batch()


def _mysql_batches(uri: str, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    columns = connectorx.read_sql(
        uri, described_sql(sql), return_type="arrow", pre_execution_query=MYSQL_SESSION
    ).schema
    statement = text_cast_sql(sql, columns.names, text_columns(columns), "mysql")
    yield from connectorx.read_sql(
        uri, statement, return_type="arrow_stream", batch_size=batch_rows, pre_execution_query=MYSQL_SESSION
    )


def text_columns(schema: pa.Schema) -> list[str]:
    """The columns the database should write as text: every one whose Arrow type is not a plain
    number, boolean, text, bytes, date, time or timestamp (ConnectorX cuts decimals to 10
    places, ADBC hands numeric, JSON, UUIDs and network types over in its own wrappers), and
    PostgreSQL `money`, which ADBC hands over as an integer count of cents."""
    return [
        field.name
        for field in schema
        if not any(native(field.type) for native in _NATIVE_TYPES)
        or (field.metadata or {}).get(POSTGRES_TYPE) in REINTERPRETED_POSTGRES_TYPES
    ]


def widened(table: pa.Table) -> pa.Table:
    """Integers and floats as wide as the SQL driver's Python values made them (int64, float64),
    so a source's raw columns keep their types whichever reader loaded them."""
    schema = pa.schema([field.with_type(_WIDER.get(field.type, field.type)) for field in table.schema])
    return table if schema.equals(table.schema) else table.cast(schema)


def driver_uri(url: URL) -> str:
    """The URL as the bulk drivers take it (`postgresql://…`, `mysql://…`), credentials included."""
    if url.get_backend_name() == POSTGRES:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    options = {name: value for name, value in url.query.items() if name not in SQLALCHEMY_ONLY_OPTIONS}
    return url.set(drivername="mysql", query=options).render_as_string(hide_password=False)


def redacted(message: str, url: URL) -> str:
    """`message` with the URL, in any form a driver may quote it, and its password blanked out."""
    password = url.password or ""
    secrets = {url.render_as_string(hide_password=False), driver_uri(url), password}
    secrets |= {quote(password, safe=""), quote_plus(password)}
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _without_credentials(tables: Iterator[pa.Table], url: URL) -> Iterator[pa.Table]:
    """`tables`, a driver failure (ConnectorX panics are BaseExceptions) re-raised as a
    SourceReadError whose message names no credential and that chains no driver exception."""
    try:
        while True:
            failure = None
            try:
                table = next(tables)
            except StopIteration:
                return
            except BaseException as error:
                if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                    raise
                failure = redacted(f"{type(error).__name__}: {error}", url)
            if failure is not None:
                raise SourceReadError(f"reading the {url.get_backend_name()} source failed: {failure}")
            yield table
    finally:
        tables.close()
