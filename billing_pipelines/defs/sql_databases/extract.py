"""Reading a SQL source (Postgres, MySQL, SQLite, any SQLAlchemy URL) window by window.

The rows of a window come from one statement, in Arrow batches: PostgreSQL and MySQL/MariaDB in
bulk (`lib/bulk_reads.py`: the drivers' own record batches, what a history of millions of usage
events needs), every other dialect through SQLAlchemy with bound parameters. The dlt side
(stateless usage windows, state from the live cursor, `_event_date`) is `lib/windowed_reads.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from dlt.extract.source import DltSource

from billing_pipelines.config import SqlDatasetConfig, SqlSourceConfig
from billing_pipelines.lib.bulk_reads import BULK_DIALECTS, bulk_batches
from billing_pipelines.lib.sql_queries import bound_timestamp, dataset_statement, read_batches, resolve_url, window_sql
from billing_pipelines.lib.windowed_reads import windowed_source
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


@dataclass(frozen=True)
class _SourceReader:
    """A reader of one SQL source; its window bounds are what the source's dialect compares."""

    source: SqlSourceConfig
    base_dir: Path

    def bound(self, moment: datetime) -> datetime | str:
        return bound_timestamp(moment, source_dialect(self.source, self.base_dir))


class SqlAlchemyReader(_SourceReader):
    """Reads through SQLAlchemy, row by row: any dialect, bounds bound by the driver."""

    def batches(self, dataset: SqlDatasetConfig, start, end, batch_rows: int) -> Iterator[pa.Table]:
        url = source_url(self.source, self.base_dir)
        statement = dataset_statement(dataset.query, dataset.table, dataset.cursor, url.get_backend_name())
        yield from read_batches(_engine(url), statement, {"window_start": start, "window_end": end}, batch_rows)


class BulkReader(_SourceReader):
    """Reads PostgreSQL and MySQL/MariaDB in the drivers' Arrow record batches, bounds written
    into the statement as typed timestamp literals (the drivers cannot bind while streaming)."""

    def batches(self, dataset: SqlDatasetConfig, start, end, batch_rows: int) -> Iterator[pa.Table]:
        url = source_url(self.source, self.base_dir)
        sql = window_sql(dataset.query, dataset.table, dataset.cursor, url.get_backend_name(), start, end)
        yield from bulk_batches(url, sql, batch_rows)


def reader_for(source: SqlSourceConfig, base_dir: Path) -> BulkReader | SqlAlchemyReader:
    """The bulk reader for PostgreSQL and MySQL/MariaDB, SQLAlchemy for every other dialect."""
    if source_dialect(source, base_dir) in BULK_DIALECTS:
        return BulkReader(source, base_dir)
    return SqlAlchemyReader(source, base_dir)


def sql_source(
    source_name: str,
    source: SqlSourceConfig,
    base_dir: Path,
    datasets: list[str],
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a SQL source's datasets (all state, or usage for a window)."""
    return windowed_source(source_name, source.datasets, datasets, reader_for(source, base_dir), window, batch_rows)
