"""What the Dagster-level tests of the API sources (Stripe, HubSpot, Google Sheets) share: their
raw assets materialized against a stand-in, and the shape every source's assets must have."""

from __future__ import annotations

import dagster as dg
import dlt
import duckdb
from dagster_dlt import DagsterDltResource

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import STATE_JOB
from billing_pipelines.lib.warehouse import Warehouse


def materialize(definitions: dg.Definitions, config, selection=None) -> dg.ExecuteInProcessResult:
    """A run of a source's raw assets (or the `selection` of them), as the UI launches it."""
    assets = [a for a in definitions.assets if isinstance(a, dg.AssetsDefinition)]
    resources = {"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))}
    return dg.materialize(assets, resources=resources, selection=selection, raise_on_error=False)


def failure(result: dg.ExecuteInProcessResult) -> str:
    """The error of a run's failed step, as the UI shows it."""
    assert not result.success
    return str(result.get_step_failure_events()[0].event_specific_data.error)


def query(config, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        return warehouse.execute(sql).fetchall()


def assert_raw_assets_synced_with_the_state(source: str, kind: str, tables) -> dg.AssetGraph:
    """Each table is a raw asset in the source's group, in the warehouse pool, fed by an external
    asset of the service's kind, and loaded by the state sync; returns the project's graph."""
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    state_sync = defs.resolve_job_def(STATE_JOB).asset_layer.selected_asset_keys
    for table in tables:
        raw = graph.get(dg.AssetKey([f"raw_{source}", table]))
        assert raw.group_name == source and raw.pools == {"warehouse"}
        assert dg.AssetKey([source, table]) in raw.parent_keys
        assert kind in graph.get(dg.AssetKey([source, table])).kinds
        assert raw.key in state_sync
    return graph


def raw_pipeline(name: str, warehouse, dataset: str, pipelines_dir) -> dlt.Pipeline:
    """A dlt pipeline loading a source into `dataset` of the DuckDB file `warehouse`, its state
    under `pipelines_dir`: what a raw asset runs, without Dagster."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )


APP_CUSTOMERS = """
create schema raw_app_db;
create table raw_app_db.customers (
    account_id bigint, external_id varchar, name varchar, currency varchar, updated_at varchar, _dlt_load_id varchar
);
"""


def add_app_customers(warehouse, customers: list[tuple[int, str, str, str]]) -> None:
    """The app's own raw customers table in the DuckDB file `warehouse`: (account id, external id,
    name, updated_at) each, in EUR; what the SaaS sources' customers are matched against."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(APP_CUSTOMERS)
        con.executemany(
            "insert into raw_app_db.customers values (?, ?, ?, 'EUR', ?, '1704067200.1')",
            [list(customer) for customer in customers],
        )


def app_customers_named_in_order(external_ids: list[str]) -> list[tuple[int, str, str, str]]:
    """App customers for `external_ids`: account ids 1, 2, … named "App name <id>"."""
    return [(n, external_id, f"App name {n}", "2026-09-01 00:00:00") for n, external_id in enumerate(external_ids, 1)]
