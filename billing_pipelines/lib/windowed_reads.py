"""Reading a query-configured source window by window, whatever the engine.

SQL databases, Snowflake and BigQuery are configured the same way (a query template with
`:window_start` / `:window_end`, or a table with a cursor column, and a primary key; see
`SqlDatasetConfig`). Each engine supplies a `WindowReader`: how it binds a window bound and how it
streams one dataset's rows for `[start, end)` as Arrow tables. The dlt side is shared:

- usage is read for one event-time window: a stateless `dlt.sources.incremental` range, so a
  backfill never moves the live cursor and any range can be re-run on its own; each usage row
  gets its `_event_date` (the UTC day of its `event_timestamp`);
- customers, contracts and contract items are state: read from the live cursor (kept by dlt in
  the warehouse) onwards and merged on their primary key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from billing_pipelines.config import PARTITIONED_DATASETS, SqlDatasetConfig
from billing_pipelines.lib.arrow_batches import read_ahead
from billing_pipelines.lib.event_dates import with_event_dates
from billing_pipelines.lib.windows import Window

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""Lower bound of a first, full load of a state dataset."""
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""Upper bound of an open-ended window (state datasets are read up to 'now and beyond')."""


class WindowReader(Protocol):
    """One engine's way of reading a dataset's rows whose cursor lies in a window."""

    def bound(self, moment: datetime) -> Any:
        """A window bound (aware UTC datetime) in the form the engine compares with the cursor.
        It is also what dlt keeps as the live cursor of a state dataset."""

    def batches(self, dataset: SqlDatasetConfig, start: Any, end: Any, batch_rows: int) -> Iterator[pa.Table]:
        """The dataset's rows with `start <= cursor < end`, as Arrow tables of at most
        `batch_rows` rows; the bounds are query parameters, or literals rendered from the typed
        bounds alone where the driver cannot bind while streaming, never text from elsewhere."""


def raw_write_disposition(usage: bool) -> dict:
    """How a load writes raw: rows whose primary key the load delivers replace the stored ones,
    so re-reading a window or a change replaces, never appends.

    State keeps one row per key: of two versions read by one load, the one with the later
    cursor (`dedup_sort` on the cursor column). Usage is kept exactly as the source
    delivered it: two rows of one window with the same `event_id` both stay in raw, and the
    canonical model decides between them (and can show the conflict), instead of dlt dropping
    one at random before anything could see it. It also spares a history load the sort of
    every row by key."""
    return {"disposition": "merge", "strategy": "delete-insert", "deduplicated": usage}


USAGE_COLUMNS = ("customer_external_id", "metric", "quantity", "event_timestamp")
"""The columns of the raw contract (docs/raw-contract.md) that no usage event goes without: a
usage batch lacking one fails its load, naming it. (A source whose table lost one keeps the old
column in raw, so staging would quietly quarantine every new row as missing the value.)"""


class UnusableUsageRows(ValueError):
    """A usage window whose rows cannot be loaded as they are: the step fails before anything
    is written, saying what the query must change (not retried: a re-run reads the same)."""


def check_usage_batch(source: str, batch: pa.Table, primary_key: list[str]) -> None:
    """Fail clearly on a usage batch staging could not read or raw could not key: a column of
    the raw contract missing (renamed or dropped in the source, or not aliased by the query)
    would otherwise quarantine every row as missing a value, or fail dbt; a NULL primary key
    fails deep in dlt's Arrow normalisation."""
    missing = [column for column in USAGE_COLUMNS if column not in batch.column_names]
    if missing:
        raise UnusableUsageRows(
            f"{source}: the usage rows have no column {', '.join(missing)} (they have "
            f"{', '.join(batch.column_names)}); the query must return {', '.join(USAGE_COLUMNS)} "
            "(alias them, e.g. `occurred_at AS event_timestamp`; docs/raw-contract.md)"
        )
    for column in primary_key:
        if column in batch.column_names and (nulls := batch[column].null_count):
            raise UnusableUsageRows(
                f"{source}: {nulls} usage row(s) of this window have no {column}, the primary key: a row "
                "needs its key to be replaced when its window is read again. Give such rows an id in the "
                f"query, e.g. COALESCE({column}, md5(<the row's columns>))"
            )


def windowed_dataset(
    source_name: str,
    dataset: str,
    config: SqlDatasetConfig,
    reader: WindowReader,
    window: Window | None,
    batch_rows: int,
) -> DltResource:
    """A dlt resource reading `dataset`: the rows of `window`, or all changes since the cursor."""
    if window is None:
        cursor = dlt.sources.incremental(config.cursor, initial_value=reader.bound(EARLIEST), primary_key=())
    else:
        cursor = dlt.sources.incremental(
            config.cursor,
            initial_value=reader.bound(window.start),
            end_value=reader.bound(window.end),
            range_end="open",
            primary_key=(),
        )

    usage = dataset in PARTITIONED_DATASETS

    @dlt.resource(
        name=dataset,
        primary_key=config.primary_key,
        write_disposition=raw_write_disposition(usage),
        columns=None if usage else {config.cursor: {"dedup_sort": "desc"}},
    )
    def rows(changed=cursor) -> Iterator[pa.Table]:
        end = changed.end_value if changed.end_value is not None else reader.bound(LATEST)
        for batch in read_ahead(reader.batches(config, changed.start_value, end, batch_rows)):
            if usage:
                check_usage_batch(source_name, batch, config.primary_key)
            yield with_event_dates(batch) if usage else batch

    return rows


def windowed_source(
    source_name: str,
    datasets: Mapping[str, SqlDatasetConfig],
    selected: list[str],
    reader: WindowReader,
    window: Window | None = None,
    batch_rows: int = 100_000,
) -> DltSource:
    """The dlt source for some of a source's datasets (all state, or usage for a window), read
    in Arrow batches of `batch_rows` rows (the run's memory budget sets it)."""

    @dlt.source(name=source_name, max_table_nesting=0)
    def tables() -> list[DltResource]:
        return [windowed_dataset(source_name, d, datasets[d], reader, window, batch_rows) for d in selected]

    return tables()
