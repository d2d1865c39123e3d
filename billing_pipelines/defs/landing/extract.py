"""dlt resources that load the landing zone's archive into `raw_landing`.

Rows are keyed by (`_file_digest`, `_line`): reloading a file replaces its rows, so re-running
a partition or a state load is idempotent. Usage files are read for a window (every archived
file with an event in it), each row with its `_event_date`; state files (customers, contracts,
items) and the push API's rejected records are all read each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from billing_pipelines.config import PARTITIONED_DATASETS
from billing_pipelines.defs.landing.archive import ARCHIVE, REJECTED, landed_files
from billing_pipelines.defs.landing.csv_reader import parse_landing_csv
from billing_pipelines.lib.event_dates import with_event_dates
from billing_pipelines.lib.event_time_range import EventTimeRange
from billing_pipelines.lib.windows import Window

REJECTED_FILES = "rejected_files"
PAYLOAD_CHARACTERS = 2_000
ROW_KEY = ("_file_digest", "_line")


def dataset_resource(root: Path, dataset: str, window: Window | None, in_range: EventTimeRange) -> DltResource:
    """Rows of the archived files of `dataset` (for usage: those with events in `window`, each
    row dated by `in_range`: one outside it is undated, see `with_event_dates`)."""

    @dlt.resource(
        name=dataset,
        primary_key=ROW_KEY,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    )
    def rows() -> Iterator[pa.Table]:
        for landed in landed_files(root, ARCHIVE, dataset):
            if window is None or landed.touches(window):
                rows = parse_landing_csv(root / landed.stored_as, dataset, landed.origin)
                yield with_event_dates(rows, in_range=in_range) if dataset in PARTITIONED_DATASETS else rows

    return rows


def rejected_files_resource(root: Path) -> DltResource:
    """Files rejected whole, with the reason and the start of their content."""

    @dlt.resource(
        name=REJECTED_FILES,
        primary_key="_file_digest",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    )
    def rejected() -> Iterator[pa.Table]:
        records = landed_files(root, REJECTED)
        if not records:
            return
        yield pa.table(
            {
                "dataset": [record.dataset for record in records],
                "_file": [record.name for record in records],
                "_file_digest": [record.digest for record in records],
                "reason": [record.reason for record in records],
                "payload": [_head(root / record.stored_as) for record in records],
                "_received_at": pa.array([record.received_at for record in records], pa.timestamp("us", tz="UTC")),
            }
        )

    return rejected


def _head(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(PAYLOAD_CHARACTERS * 4).decode("utf-8", errors="replace")[:PAYLOAD_CHARACTERS]


def landing_source(
    root: Path, datasets: list[str], in_range: EventTimeRange, window: Window | None = None
) -> DltSource:
    """The dlt source for some landing datasets (`rejected_records` and `rejected_files`
    included with the state)."""

    @dlt.source(name="landing", max_table_nesting=0)
    def landing() -> list[DltResource]:
        return [
            rejected_files_resource(root)
            if dataset == REJECTED_FILES
            else dataset_resource(root, dataset, window, in_range)
            for dataset in datasets
        ]

    return landing()
