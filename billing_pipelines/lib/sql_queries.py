"""Reading a SQL source window by window, as Arrow batches.

A dataset is read with one parameterised statement: the configured query template, or a
`SELECT *` built from a table name and its cursor column. The window bounds are bound by the
driver (never formatted into SQL) in the form the dialect compares correctly: SQLite keeps
timestamps as `YYYY-MM-DD HH:MM:SS` text, MySQL/MariaDB `DATETIME` holds naive UTC values,
and the other server databases get timezone-aware datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

TEXT_TIMESTAMP_DIALECTS = frozenset({"sqlite"})
NAIVE_UTC_DIALECTS = frozenset({"mysql", "mariadb"})


def dataset_statement(query: str | None, table: str | None, cursor: str) -> sa.TextClause | sa.Select:
    """The statement reading rows whose cursor is in `[:window_start, :window_end)`."""
    if query is not None:
        return sa.text(query)
    schema, _, name = table.rpartition(".")
    source = sa.table(name, schema=schema or None)
    cursor_column = sa.column(cursor)
    return (
        sa.select(sa.literal_column("*"))
        .select_from(source)
        .where(cursor_column >= sa.bindparam("window_start"), cursor_column < sa.bindparam("window_end"))
    )


def bound_timestamp(moment: datetime, dialect: str) -> datetime | str:
    """A window bound as the dialect compares it: UTC text for SQLite, naive UTC for MySQL,
    an aware datetime otherwise."""
    moment = moment.astimezone(UTC)
    if dialect in TEXT_TIMESTAMP_DIALECTS:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if dialect in NAIVE_UTC_DIALECTS:
        return moment.replace(tzinfo=None)
    return moment


def resolve_url(url: str, base_dir: Path) -> URL:
    """Parse a SQLAlchemy URL; a relative SQLite file is taken relative to billing.yaml."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        path = Path(database)
        if not path.is_absolute():
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return parsed


def read_batches(
    engine: sa.Engine, statement: sa.TextClause | sa.Select, parameters: dict, batch_rows: int = 100_000
) -> Iterator[pa.Table]:
    """Stream the statement's rows as Arrow tables of at most `batch_rows` rows."""
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(statement, parameters)
        columns = list(result.keys())
        for rows in result.partitions(batch_rows):
            yield rows_to_arrow(columns, rows)


def rows_to_arrow(columns: Sequence[str], rows: Sequence[Sequence]) -> pa.Table:
    """Transpose DB-API rows into an Arrow table, keeping values as delivered.

    Decimals become text (exact; staging casts them), JSON values (dicts/lists from jsonb)
    become JSON text, and a column of mixed types becomes text rather than failing the load.
    """
    values_by_column = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pa.table([_column_array(values) for values in values_by_column], names=list(columns))


def _column_array(values: Sequence) -> pa.Array:
    sample = next((value for value in values if value is not None), None)
    if isinstance(sample, (dict, list)):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
    if isinstance(sample, Decimal):
        return pa.array([None if v is None else format(v, "f") for v in values], pa.string())
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return array.cast(pa.string()) if pa.types.is_null(array.type) else array
