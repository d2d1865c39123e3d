"""The warehouse every loader and model writes: a DuckDB file in the embedded default.

One resource owns the location, so dlt (raw layer), dbt (staging, canonical, marts) and the
read-side helpers always agree on where the data is. DuckDB allows one writing process per
file; every asset that writes is therefore in the `warehouse` pool (limit 1 in dagster.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import dlt
import duckdb

from billing_pipelines.config import WAREHOUSE_ENV

WAREHOUSE_POOL = "warehouse"
CANONICAL_SCHEMA = "billing"


class Warehouse(dg.ConfigurableResource):
    """Location of the DuckDB warehouse (raw_<source> schemas, staging, billing)."""

    path: str

    def dlt_pipeline(self, pipeline_name: str, dataset_name: str) -> dlt.Pipeline:
        """A dlt pipeline loading into `dataset_name` (a `raw_<source>` schema) of this warehouse."""
        location = Path(self.path)
        location.parent.mkdir(parents=True, exist_ok=True)
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=dlt.destinations.duckdb(str(location)),
            dataset_name=dataset_name,
            pipelines_dir=str(location.parent / ".dlt_pipelines"),
        )

    def export_for_dbt(self) -> None:
        """dbt's profile reads the warehouse path from BILLING_WAREHOUSE; point it here."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        os.environ[WAREHOUSE_ENV] = str(Path(self.path).resolve())

    @contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        connection = duckdb.connect(self.path, read_only=read_only)
        try:
            yield connection
        finally:
            connection.close()
