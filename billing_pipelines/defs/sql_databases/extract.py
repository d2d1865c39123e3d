"""dlt resources that read a SQL source's datasets, one Arrow batch at a time.

Usage is read for one event-time window: a stateless `dlt.sources.incremental` range, so a
backfill never moves the live cursor and any range can be re-run on its own. Each usage row
gets its `_event_date` (the UTC day of its `event_timestamp`), so later reads of a window skip
the rest of the history. Customers, contracts and contract items are state: read from the live
cursor (kept by dlt in the warehouse) onwards and merged on their primary key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from billing_pipelines.config import PARTITIONED_DATASETS, SqlDatasetConfig, SqlSourceConfig
from billing_pipelines.lib.event_dates import with_event_dates
from billing_pipelines.lib.sql_queries import (
    EARLIEST,
    LATEST,
    bound_timestamp,
    dataset_statement,
    read_batches,
    resolve_url,
)
from billing_pipelines.lib.windows import Window

SERVER_DIALECT = "postgresql"
"""Dialect assumed while only describing assets, when the URL lives in an unset variable."""


class SourceUnavailable(RuntimeError):
    """The source's connection settings are missing at run time."""


def source_url(source: SqlSourceConfig, base_dir: Path) -> sa.URL:
    """The source's SQLAlchemy URL, from the file or from the variable `url_env` names."""
    url = source.url
    if url is None:
        url = os.environ.get(source.url_env or "")
        if not url:
            raise SourceUnavailable(f"environment variable {source.url_env} is not set: it must hold the database URL")
    return resolve_url(url, base_dir)


def source_dialect(source: SqlSourceConfig, base_dir: Path) -> str:
    try:
        return source_url(source, base_dir).get_backend_name()
    except SourceUnavailable:
        return SERVER_DIALECT


@cache
def _engine(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def dataset_resource(
    dataset: str,
    config: SqlDatasetConfig,
    engine: Callable[[], sa.Engine],
    dialect: str,
    window: Window | None,
    batch_rows: int,
) -> DltResource:
    """A dlt resource reading `dataset`: the rows of `window`, or all changes since the cursor."""
    statement = dataset_statement(config.query, config.table, config.cursor)
    if window is None:
        cursor = dlt.sources.incremental(
            config.cursor, initial_value=bound_timestamp(EARLIEST, dialect), primary_key=()
        )
    else:
        cursor = dlt.sources.incremental(
            config.cursor,
            initial_value=bound_timestamp(window.start, dialect),
            end_value=bound_timestamp(window.end, dialect),
            range_end="open",
            primary_key=(),
        )

    @dlt.resource(
        name=dataset,
        primary_key=config.primary_key,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    )
    def rows(changed=cursor) -> Iterator[pa.Table]:
        parameters = {
            "window_start": changed.start_value,
            "window_end": changed.end_value or bound_timestamp(LATEST, dialect),
        }
        for batch in read_batches(engine(), statement, parameters, batch_rows):
            yield with_event_dates(batch) if dataset in PARTITIONED_DATASETS else batch

    return rows


def sql_source(
    source_name: str,
    source: SqlSourceConfig,
    base_dir: Path,
    datasets: list[str],
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a SQL source's datasets (all state, or usage for a window),
    read in Arrow batches of `batch_rows` rows (the run's memory budget sets it)."""
    dialect = source_dialect(source, base_dir)

    def engine() -> sa.Engine:
        return _engine(source_url(source, base_dir))

    @dlt.source(name=source_name, max_table_nesting=0)
    def tables() -> list[DltResource]:
        return [dataset_resource(d, source.datasets[d], engine, dialect, window, batch_rows) for d in datasets]

    return tables()
