"""Every test here reads PostgreSQL or MySQL: those must be read in bulk, never row by row."""

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.defs.sql_databases.extract import SqlAlchemyReader
from billing_pipelines.lib.warehouse import warehouse_for


@pytest.fixture(autouse=True)
def bulk_reads_only(monkeypatch):
    """Fail any read that goes through SQLAlchemy, so a passing test proves the bulk reader read it."""

    def row_by_row(*_args, **_kwargs):
        raise AssertionError("a PostgreSQL/MySQL source was read through SQLAlchemy, not in bulk")

    monkeypatch.setattr(SqlAlchemyReader, "batches", row_by_row)


@pytest.fixture
def load_raw():
    """Materialize a config's raw-layer SQL loads (`dg.materialize` options: selection, tags, …)
    with the config's own memory budget; returns the run's result."""

    def load(config, **run) -> dg.ExecuteInProcessResult:
        assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
        resources = {"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)}
        return dg.materialize(assets, resources=resources, **run)

    return load
