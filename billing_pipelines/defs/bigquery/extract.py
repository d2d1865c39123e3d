"""Reading a BigQuery source window by window, as Arrow batches.

A dataset is read with one GoogleSQL query job: the configured query template (its
`:window_start` / `:window_end` become the named parameters `@window_start` / `@window_end`), or a
`SELECT *` from a table whose name is checked and quoted. The bounds are bound as TIMESTAMP query
parameters, so the cursor must be a TIMESTAMP (cast a DATETIME or DATE in the query). Nothing from
the configuration, a partition key or the data is formatted into the SQL. The dlt side (stateless
usage windows, state from the live cursor, `_event_date`) is `lib/windowed_reads.py`.

Values arrive as BigQuery delivers them: NUMERIC as exact decimal128(38, 9), TIMESTAMP as UTC
timestamps, JSON as its text; BIGNUMERIC, wider than any DuckDB decimal, as exact text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.source import DltSource

from billing_pipelines.config import WINDOW_PARAMETERS, BigQuerySourceConfig, SqlDatasetConfig
from billing_pipelines.defs.bigquery.resources import bigquery_resource
from billing_pipelines.lib.arrow_batches import rebatched
from billing_pipelines.lib.windowed_reads import windowed_source
from billing_pipelines.lib.windows import Window

STORAGE_STREAMS = 2
"""Parallel Storage Read API streams of one query result: each holds a batch in memory."""

# Text in which a `:name` is not a parameter: string and bytes literals (triple-quoted first;
# with r/b prefixes the quotes still delimit), quoted identifiers and comments.
_NOT_SQL = r"""'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\[\s\S]|[^'\\\n])*'|"(?:\\[\s\S]|[^"\\\n])*"|`(?:\\[\s\S]|[^`\\])*`|--[^\n]*|\#[^\n]*|/\*[\s\S]*?\*/"""
_WINDOW_PLACEHOLDER = re.compile(rf"({_NOT_SQL})|(?<![\w:@]):({'|'.join(WINDOW_PARAMETERS)})\b")

_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
_TABLE = re.compile(r"[\w-]{1,1024}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")


def named_parameters(template: str) -> str:
    """The query template with `:window_start`/`:window_end` as `@window_start`/`@window_end`.

    Inside string literals, quoted identifiers and comments nothing changes, nor in a `::` cast.
    A template whose window parameter appears only there is refused: the query would read every
    row instead of the window.
    """
    used: set[str] = set()

    def replace(match: re.Match) -> str:
        if match[1] is not None:
            return match[1]
        used.add(match[2])
        return f"@{match[2]}"

    query = _WINDOW_PLACEHOLDER.sub(replace, template)
    missing = [name for name in WINDOW_PARAMETERS if name not in used]
    if missing:
        raise ValueError(f"query: :{missing[0]} appears only inside a string, quoted name or comment")
    return query


def quoted_table(table: str) -> str:
    """`[project.]dataset.table` as backtick-quoted GoogleSQL, each part checked against
    BigQuery's naming rules (anything else, e.g. a backtick or `;`, is refused)."""
    parts = table.rsplit(".", 2)
    if len(parts) < 2:
        raise ValueError(f"table {table!r} must be dataset.table or project.dataset.table")
    *project, dataset, name = parts
    if project and not _PROJECT.fullmatch(project[0]):
        raise ValueError(f"table {table!r}: {project[0]!r} is not a BigQuery project id")
    if not _DATASET.fullmatch(dataset):
        raise ValueError(f"table {table!r}: dataset {dataset!r} may only hold letters, digits and _")
    if not _TABLE.fullmatch(name):
        raise ValueError(f"table {table!r}: table name {name!r} may only hold letters, digits, _ and -")
    return ".".join(f"`{part}`" for part in parts)


def quoted_column(column: str) -> str:
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"cursor {column!r} must be a column name (letters, digits and _)")
    return f"`{column}`"


def dataset_query(dataset: SqlDatasetConfig) -> str:
    """The GoogleSQL reading the rows whose cursor is in `[@window_start, @window_end)`."""
    if dataset.query is not None:
        return named_parameters(dataset.query)
    cursor = quoted_column(dataset.cursor)
    return f"SELECT * FROM {quoted_table(dataset.table)} WHERE {cursor} >= @window_start AND {cursor} < @window_end"


def exact_wide_decimals(table: pa.Table) -> pa.Table:
    """BIGNUMERIC columns (decimal256, wider than DuckDB's DECIMAL(38)) as exact decimal text."""
    for index, field in enumerate(table.schema):
        if pa.types.is_decimal256(field.type):
            table = table.set_column(index, field.name, pc.cast(table[field.name], pa.string()))
    return table


@dataclass(frozen=True)
class BigQueryReader:
    """Reads a BigQuery source through dagster-gcp's `BigQueryResource`, window by window."""

    source: BigQuerySourceConfig

    def bound(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC)

    def batches(self, dataset: SqlDatasetConfig, start, end, batch_rows: int) -> Iterator[pa.Table]:
        from google.cloud import bigquery  # slow to import: only when a run reads BigQuery

        job_config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("window_start", "TIMESTAMP", start),
                bigquery.ScalarQueryParameter("window_end", "TIMESTAMP", end),
            ]
        )
        resource = bigquery_resource(self.source)
        read_client = resource.storage_read_client()
        with resource.get_client() as client:
            job = client.query(dataset_query(dataset), job_config=job_config)
            # Over REST the rows come in pages of the batch size; for the Storage Read API the
            # job's first response carries no rows, so none are fetched twice.
            rows = job.result(page_size=None if read_client else batch_rows)
            pages = rows.to_arrow_iterable(bqstorage_client=read_client, max_stream_count=STORAGE_STREAMS)
            for table in rebatched(pages, batch_rows):
                yield exact_wide_decimals(table)


def bigquery_source(
    source_name: str,
    source: BigQuerySourceConfig,
    datasets: list[str],
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a BigQuery source's datasets (all state, or usage for a window)."""
    return windowed_source(source_name, source.datasets, datasets, BigQueryReader(source), window, batch_rows)
