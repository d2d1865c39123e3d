"""The warehouse every loader and model writes: a DuckDB file in the embedded default.

One resource owns the location, so dlt (raw layer), dbt (staging, canonical, marts) and the
read-side helpers always agree on where the data is. DuckDB allows one writing process per
file; every asset that writes is therefore in the `warehouse` pool (limit 1 in dagster.yaml).
Every connection to it, dlt's, dbt's and the read-side helpers', gets the run's DuckDB memory
limit and spills to `<warehouse>.tmp/` beyond it (see `lib/memory.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import dlt
import duckdb
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from billing_pipelines.config import WAREHOUSE_ENV, BillingConfig
from billing_pipelines.lib.memory import EngineLimits, engine_limits

WAREHOUSE_POOL = "warehouse"
CANONICAL_SCHEMA = "billing"
DUCKDB_MEMORY_LIMIT_ENV = "BILLING_DUCKDB_MEMORY_LIMIT"
DLT_BUFFER_ENV = "DATA_WRITER__BUFFER_MAX_ITEMS"


class Warehouse(dg.ConfigurableResource):
    """Location of the DuckDB warehouse (raw_<source> schemas, staging, billing), and the
    memory budget of a run that works on it."""

    path: str
    memory_budget_mib: float = 2048

    @property
    def limits(self) -> EngineLimits:
        return engine_limits(self.memory_budget_mib)

    @property
    def duckdb_settings(self) -> dict[str, str]:
        """Settings of every connection: bounded memory (beyond it DuckDB spills to its default
        temp directory, `<warehouse file>.tmp/`) and no insertion-order bookkeeping, so large
        inserts stream. dbt's profile applies the same settings."""
        return {"memory_limit": self.limits.duckdb_memory_limit, "preserve_insertion_order": "false"}

    def dlt_pipeline(self, pipeline_name: str, dataset_name: str) -> dlt.Pipeline:
        """A dlt pipeline loading into `dataset_name` (a `raw_<source>` schema) of this warehouse."""
        location = Path(self.path)
        location.parent.mkdir(parents=True, exist_ok=True)
        # dlt's write buffer holds this many rows before writing them to its load files.
        os.environ[DLT_BUFFER_ENV] = str(self.limits.source_batch_rows)
        credentials = DuckDbCredentials(str(location), global_config=self.duckdb_settings)
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=dlt.destinations.duckdb(credentials),
            dataset_name=dataset_name,
            pipelines_dir=str(location.parent / ".dlt_pipelines"),
        )

    def export_for_dbt(self) -> None:
        """dbt's profile reads the warehouse path and DuckDB's limits from the environment."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        os.environ[WAREHOUSE_ENV] = str(Path(self.path).resolve())
        os.environ[DUCKDB_MEMORY_LIMIT_ENV] = self.duckdb_settings["memory_limit"]

    @contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        connection = duckdb.connect(self.path, read_only=read_only, config=self.duckdb_settings)
        try:
            yield connection
        finally:
            connection.close()


def warehouse_for(config: BillingConfig) -> Warehouse:
    """The warehouse resource of a configuration: its location and the run's memory budget."""
    return Warehouse(path=str(config.warehouse_path), memory_budget_mib=config.memory_budget_mib)
