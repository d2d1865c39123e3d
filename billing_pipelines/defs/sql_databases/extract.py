"""Reading a SQL source (Postgres, MySQL, SQLite, any SQLAlchemy URL) window by window.

The rows of a window come from one parameterised statement, in Arrow batches; the dlt side
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
from billing_pipelines.lib.sql_queries import bound_timestamp, dataset_statement, read_batches, resolve_url
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
class SqlAlchemyReader:
    """Reads through SQLAlchemy: any dialect, bounds bound by the driver."""

    source: SqlSourceConfig
    base_dir: Path

    def bound(self, moment: datetime) -> datetime | str:
        return bound_timestamp(moment, source_dialect(self.source, self.base_dir))

    def batches(self, dataset: SqlDatasetConfig, start, end, batch_rows: int) -> Iterator[pa.Table]:
        statement = dataset_statement(dataset.query, dataset.table, dataset.cursor)
        engine = _engine(source_url(self.source, self.base_dir))
        yield from read_batches(engine, statement, {"window_start": start, "window_end": end}, batch_rows)


def sql_source(
    source_name: str,
    source: SqlSourceConfig,
    base_dir: Path,
    datasets: list[str],
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a SQL source's datasets (all state, or usage for a window)."""
    reader = SqlAlchemyReader(source, base_dir)
    return windowed_source(source_name, source.datasets, datasets, reader, window, batch_rows)
