"""Reading a SQL source window by window: the statement of a window, and rows as Arrow batches.

A dataset is read with one statement: the configured query template, or a `SELECT *` built from
a table name and its cursor column (identifiers quoted by the dialect). The template's
`:window_start` / `:window_end` are window parameters only where they are SQL code: never inside
a string literal, a quoted identifier or a comment, never the type of a `::` cast. They become:

- bound parameters, through SQLAlchemy (`window_text`): SQLite keeps timestamps as
  `YYYY-MM-DD HH:MM:SS` text, MySQL/MariaDB `DATETIME` holds naive UTC values, and the other
  server databases get timezone-aware datetimes;
- typed timestamp literals, for the bulk readers, which cannot bind (`render_window`): written
  from a `datetime`'s numbers only, never from text, the config or the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import URL, Dialect, make_url

from billing_pipelines.config import WINDOW_PARAMETERS

TEXT_TIMESTAMP_DIALECTS = frozenset({"sqlite"})
NAIVE_UTC_DIALECTS = frozenset({"mysql", "mariadb"})
POSTGRES = "postgresql"

# What is not SQL code in a template, per dialect family: string literals, quoted identifiers
# and comments (with their escapes), then an opening quote or comment that never closes.
_NOT_CODE = {
    POSTGRES: (
        r"""(?<!\w)[eE]'(?:[^'\\]|\\.|'')*'              # E'..' string: backslash escapes
          | '(?:[^']|'')*' | "(?:[^"]|"")*"                 # string, quoted identifier
          | (?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$   # $tag$..$tag$ string
          | --[^\n]* | /\*.*?\*/""",
        r"""['"] | /\* | (?<![\w$])\$(?:[A-Za-z_]\w*)?\$""",
    ),
    "mysql": (
        r"""'(?:[^'\\]|\\.|'')*' | "(?:[^"\\]|\\.|"")*"     # strings: backslash escapes
          | `(?:[^`]|``)*`                                   # quoted identifier
          | --(?=\s|$)[^\n]* | \#[^\n]* | /\*.*?\*/""",  # '--' needs a space after it
        r"""['"`] | /\*""",
    ),
    "standard": (
        r"""'(?:[^']|'')*' | "(?:[^"]|"")*" | `(?:[^`]|``)*` | \[[^\]]*\]
          | --[^\n]* | /\*.*?\*/""",
        r"""['"`] | /\*""",
    ),
}


@cache
def _template_tokens(dialect: str) -> re.Pattern:
    family = POSTGRES if dialect == POSTGRES else "mysql" if dialect in NAIVE_UTC_DIALECTS else "standard"
    not_code, unterminated = _NOT_CODE[family]
    parameters = "|".join(WINDOW_PARAMETERS)
    return re.compile(
        rf"(?P<literal>{not_code}) | :: | (?<![\w:]):(?P<parameter>{parameters})(?!\w)"
        rf" | (?P<unterminated>{unterminated})",
        re.VERBOSE | re.DOTALL,
    )


def _rewrite_template(
    template: str, dialect: str, parameter: Callable[[str], str], literal: Callable[[str], str]
) -> str:
    """The template with each window parameter replaced by `parameter(name)` and each literal,
    quoted identifier or comment by `literal(text)`. Every window parameter must occur as code."""
    found: set[str] = set()

    def rewrite(match: re.Match) -> str:
        if match["unterminated"] is not None:
            raise ValueError(f"query: {match['unterminated']!r} opens a literal or comment that never closes")
        if match["parameter"] is not None:
            found.add(match["parameter"])
            return parameter(match["parameter"])
        return literal(match[0]) if match["literal"] is not None else match[0]

    text = _template_tokens(dialect).sub(rewrite, template)
    missing = [name for name in WINDOW_PARAMETERS if name not in found]
    if missing:
        raise ValueError(f"query: no :{missing[0]} parameter outside string literals and comments")
    return text


def window_text(template: str, dialect: str) -> sa.TextClause:
    """The template as a SQLAlchemy statement binding the window parameters, and only them: a
    colon inside a literal or comment is escaped, so SQLAlchemy does not take it for a bind."""
    return sa.text(_rewrite_template(template, dialect, lambda name: f":{name}", lambda text: text.replace(":", r"\:")))


def render_window(template: str, dialect: str, bounds: Mapping[str, datetime]) -> str:
    """The template with each window parameter replaced by its bound as a typed timestamp literal."""
    literals = {name: timestamp_literal(bounds[name], dialect) for name in WINDOW_PARAMETERS}
    return _rewrite_template(template, dialect, literals.__getitem__, lambda text: text)


def timestamp_literal(moment: datetime, dialect: str) -> str:
    """A window bound as a typed SQL literal, written from the datetime's numbers only (anything
    but a datetime is refused): aware bounds in UTC (`timestamptz` in Postgres; naive UTC
    `DATETIME` in MySQL, as its driver binds them), naive ones as they are."""
    if not isinstance(moment, datetime):
        raise TypeError(f"a window bound must be a datetime, not {type(moment).__name__}")
    aware = moment.utcoffset() is not None
    if aware:
        moment = moment.astimezone(UTC)
    numbers = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond)
    written = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}.{:06d}".format(*numbers)  # integers only
    if dialect == POSTGRES:
        return f"CAST('{written}+00:00' AS timestamptz)" if aware else f"CAST('{written}' AS timestamp)"
    if dialect in NAIVE_UTC_DIALECTS:
        return f"CAST('{written}' AS DATETIME(6))"
    raise ValueError(f"no timestamp literal for the {dialect} dialect")


@cache
def _compiler_dialect(dialect: str) -> Dialect:
    """A dialect that writes binds as `:name`, to turn the table form into a template."""
    return PGDialect(paramstyle="named") if dialect == POSTGRES else MySQLDialect(paramstyle="named")


def dataset_statement(query: str | None, table: str | None, cursor: str, dialect: str) -> sa.TextClause | sa.Select:
    """The statement reading rows whose cursor is in `[:window_start, :window_end)`."""
    if query is not None:
        return window_text(query, dialect)
    schema, _, name = table.rpartition(".")
    source = sa.table(name, schema=schema or None)
    cursor_column = sa.column(cursor)
    return (
        sa.select(sa.literal_column("*"))
        .select_from(source)
        .where(cursor_column >= sa.bindparam("window_start"), cursor_column < sa.bindparam("window_end"))
    )


def window_sql(query: str | None, table: str | None, cursor: str, dialect: str, start: datetime, end: datetime) -> str:
    """The SQL text reading rows whose cursor is in `[start, end)`, bounds written as literals."""
    if query is None:
        query = str(dataset_statement(None, table, cursor, dialect).compile(dialect=_compiler_dialect(dialect)))
    return render_window(query, dialect, {"window_start": start, "window_end": end})


def _subquery(sql: str) -> str:
    return f"(\n{sql.rstrip().rstrip(';')}\n) AS window_rows"


def described_sql(sql: str) -> str:
    """A statement returning no rows but the columns of `sql`, with their types."""
    return f"SELECT * FROM {_subquery(sql)} LIMIT 0"


def text_cast_sql(sql: str, columns: Sequence[str], as_text: Collection[str], dialect: str) -> str:
    """`sql`, with its columns (`columns`, in order) in `as_text` written as text by the database
    itself (a SELECT over it); `sql` unchanged when there are none."""
    if not as_text:
        return sql
    if len(set(columns)) < len(columns):
        raise ValueError(f"the query returns a column name twice ({', '.join(columns)}): give each column its own name")
    quote = _compiler_dialect(dialect).identifier_preparer.quote_identifier
    text_type = "text" if dialect == POSTGRES else "CHAR"
    selected = ", ".join(
        f"CAST({quote(name)} AS {text_type}) AS {quote(name)}" if name in as_text else quote(name) for name in columns
    )
    return f"SELECT {selected} FROM {_subquery(sql)}"


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
