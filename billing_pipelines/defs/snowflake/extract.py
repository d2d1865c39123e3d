"""Reading a Snowflake source window by window, as Arrow batches.

A dataset is read with one statement: the configured query template, or a `SELECT *` built from
a table name and its cursor column. The window bounds are bound by Snowflake itself (server-side
numeric binding, typed as TIMESTAMP_TZ), never formatted into SQL; the rows stream back as the
connector's Arrow batches, re-cut to the run's batch size. The dlt side (stateless usage windows,
state from the live cursor, `_event_date`) is `lib/windowed_reads.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from dlt.extract.source import DltSource

from billing_pipelines.config import SnowflakeSourceConfig, SqlDatasetConfig
from billing_pipelines.defs.snowflake.resources import snowflake_connection
from billing_pipelines.lib.arrow_batches import rebatched
from billing_pipelines.lib.windowed_reads import windowed_source
from billing_pipelines.lib.windows import Window

WINDOW_BINDS = {"window_start": ":1", "window_end": ":2"}
"""Where each window bound goes in Snowflake's numeric binding: the statement is executed with
the binds `[start, end]`, however often the query uses each."""

_SQL_TOKEN = re.compile(
    r"""
      '(?:[^'\\]|\\.|'')*'             # string literal, with '' and \' escapes
    | \$\$.*?\$\$                      # dollar-quoted string
    | "(?:[^"]|"")*"                   # quoted identifier
    | --[^\n]* | //[^\n]*              # line comments
    | /\*.*?\*/                        # block comment
    | ::                               # cast operator: x::window_start is a type, not a bind
    | (?<![\w$\])]):(?P<name>window_start|window_end)\b   # not a semi-structured path (col:key)
    | (?P<unterminated>['"]|\$\$|/\*)    # a literal or comment that never closes
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_PART = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def numeric_binds(query: str) -> str:
    """The query template with `:window_start` → `:1` and `:window_end` → `:2`, where they are
    parameters: not inside string literals, quoted identifiers, comments or `::` casts.

    A template whose window parameters all sit in literals or comments would read the whole
    history on every run, and one with a literal or comment that never closes cannot be read
    reliably: both are refused."""
    found: set[str] = set()

    def bind(match: re.Match) -> str:
        if match["unterminated"] is not None:
            raise ValueError(f"query: {match['unterminated']!r} opens a literal or comment that never closes")
        name = match["name"]
        if name is None:
            return match[0]
        found.add(name)
        return WINDOW_BINDS[name]

    statement = _SQL_TOKEN.sub(bind, query)
    missing = [name for name in WINDOW_BINDS if name not in found]
    if missing:
        raise ValueError(f"query: no :{missing[0]} parameter outside string literals and comments")
    return statement


def quoted_name(name: str) -> str:
    """A `[database.][schema.]object` (or column) name from billing.yaml as a quoted Snowflake
    identifier: `metering.metered_usage` → `"METERING"."METERED_USAGE"`.

    Plain parts mean what they mean unquoted in Snowflake (folded to upper case); a part written
    in double quotes keeps its case. Anything else (spaces, quotes, semicolons outside a quoted
    part) is refused, so the name can never change the statement."""
    parts: list[str] = []
    position = 0
    while True:
        match = _NAME_PART.match(name, position)
        if match is None:
            raise ValueError(f'{name!r} is not a Snowflake name like schema.table or "Quoted Name"')
        quoted, plain = match.groups()
        parts.append(quoted.replace('""', '"') if quoted is not None else plain.upper())
        position = match.end()
        if position == len(name):
            break
        if name[position] != "." or len(parts) == 3:
            raise ValueError(f'{name!r} is not a Snowflake name like schema.table or "Quoted Name"')
        position += 1
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def dataset_statement(dataset: SqlDatasetConfig) -> str:
    """The statement reading the rows whose cursor is in `[:1, :2)`."""
    if dataset.query is not None:
        return numeric_binds(dataset.query)
    cursor = quoted_name(dataset.cursor)
    return f"SELECT * FROM {quoted_name(dataset.table)} WHERE {cursor} >= :1 AND {cursor} < :2"


def typed_bind(value: Any) -> Any:
    """A window bound as Snowflake binds it: a timestamp with its UTC offset as TIMESTAMP_TZ (it
    compares as an instant with TZ, LTZ and, in the UTC session, NTZ columns), a naive one as
    TIMESTAMP_NTZ; a date, number or text cursor as itself."""
    if isinstance(value, datetime):
        return ("TIMESTAMP_NTZ", value) if value.tzinfo is None else ("TIMESTAMP_TZ", value.astimezone(UTC))
    return value


def unfolded_names(table: pa.Table) -> pa.Table:
    """Column names as written in the query: Snowflake folds unquoted names to upper case
    (`event_id` → `EVENT_ID`), while the raw contract, cursors and primary keys are lower case.
    A name with a lower-case letter was quoted on purpose and is kept."""
    return table.rename_columns([name.lower() if name == name.upper() else name for name in table.column_names])


@dataclass(frozen=True)
class SnowflakeReader:
    """Reads through dagster-snowflake's `SnowflakeResource`: bounds bound by the server, rows
    as the connector's Arrow batches (exact decimals, UTC timestamps, VARIANT as JSON text)."""

    source_name: str
    source: SnowflakeSourceConfig

    def bound(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC)

    def batches(self, dataset: SqlDatasetConfig, start, end, batch_rows: int) -> Iterator[pa.Table]:
        statement = dataset_statement(dataset)
        with snowflake_connection(self.source_name, self.source) as connection:
            cursor = connection.cursor()
            cursor.execute(statement, [typed_bind(start), typed_bind(end)])
            # Microseconds in every chunk: one schema across chunks, and DuckDB's precision.
            chunks = cursor.fetch_arrow_batches(force_microsecond_precision=True)
            yield from rebatched((unfolded_names(chunk) for chunk in chunks), batch_rows)


def snowflake_source(
    source_name: str,
    source: SnowflakeSourceConfig,
    datasets: list[str],
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a Snowflake source's datasets (all state, or usage for a window)."""
    reader = SnowflakeReader(source_name, source)
    return windowed_source(source_name, source.datasets, datasets, reader, window, batch_rows)
