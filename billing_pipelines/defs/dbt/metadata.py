"""What the dbt step's materializations tell an operator, read from the warehouse once dbt is
done (DuckDB lets no other process read the file while dbt writes it):

- every model: its relation where the warehouse in effect has it (`dagster/table_name`) and its
  columns with the types the warehouse gave them and the descriptions of the dbt project
  (`dagster/column_schema`);
- the canonical tables and marts (schema `billing`) that are tables: a preview of a few rows;
- the canonical datasets: the records of this run's sources that went to `billing.quarantine`
  instead, by reason (for usage, those of the run's window).

Views (`billing.quarantine`, `billing.billable_usage_daily`) get their columns only: reading one
computes it over the whole history, and a run's metadata must cost what the run touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg

from billing_pipelines.config import DATASETS, PARTITIONED_DATASETS
from billing_pipelines.lib import asset_metadata
from billing_pipelines.lib.warehouse import CANONICAL_SCHEMA, Warehouse
from billing_pipelines.lib.windows import Window

QUARANTINE = "quarantine"
USAGE_QUARANTINE = "usage_events_quarantine"


def model_relations(manifest: Mapping[str, Any]) -> dict[dg.AssetKey, dict[str, Any]]:
    """The manifest's models by asset key (`[schema, name]`, as the translator keys them)."""
    return {
        dg.AssetKey([node["schema"], node["name"]]): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def column_schema(node: Mapping[str, Any], columns: list[tuple[str, str]]) -> dg.TableSchema:
    """The columns the warehouse has, with the dbt project's description of each."""
    described = {name.lower(): column.get("description") for name, column in node.get("columns", {}).items()}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, data_type, description=described.get(name) or None) for name, data_type in columns
        ]
    )


def quarantine_sql(warehouse: Warehouse, dataset: str, window: Window | None) -> str:
    """(reason, count) of a canonical dataset's quarantined records; for usage, those of the
    window's days when the run had one (the usage quarantine is kept per day)."""
    if dataset in PARTITIONED_DATASETS:
        table = asset_metadata.quoted_table(warehouse, CANONICAL_SCHEMA, USAGE_QUARANTINE)
        days = ""
        if window is not None:
            first, end = window.start.date().isoformat(), window.end.date().isoformat()
            days = f" AND event_date >= DATE '{first}' AND event_date < DATE '{end}'"
        return f"SELECT reason, count(*) FROM {table} WHERE dataset = '{dataset}'{days} GROUP BY 1"
    table = asset_metadata.quoted_table(warehouse, CANONICAL_SCHEMA, QUARANTINE)
    return f"SELECT reason, count(*) FROM {table} WHERE dataset = '{dataset}' GROUP BY 1"


def model_metadata(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    node: Mapping[str, Any],
    columns: list[tuple[str, str]] | None,
    window: Window | None,
) -> dict[str, Any]:
    schema, name = node["schema"], node.get("alias") or node["name"]
    address = asset_metadata.table_address(warehouse, schema, name)
    metadata = asset_metadata.table_metadata(address, column_schema(node, columns) if columns else None)
    if schema != CANONICAL_SCHEMA:
        return metadata

    if node.get("config", {}).get("materialized") == "view":
        # a view is computed when read: a preview or a count of it would cost every run an
        # aggregation of the whole history (billable_usage_daily), so views show their columns only
        return metadata

    def canonical() -> dict[str, Any]:
        described: dict[str, Any] = {"preview": asset_metadata.table_preview(warehouse, schema, name)}
        if name in DATASETS:
            by_reason = asset_metadata.counts(warehouse, quarantine_sql(warehouse, name, window))
            described.update(asset_metadata.quarantine_metadata(by_reason))
        return described

    return {**metadata, **asset_metadata.gathered(context, address, canonical)}


def with_warehouse_metadata(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    manifest: Mapping[str, Any],
    events: Iterable[Any],
    window: Window | None,
) -> Iterator[Any]:
    """The dbt step's events, each model's output with what the warehouse says about it."""
    events = list(events)
    models = model_relations(manifest)
    keys = context.assets_def.keys_by_output_name
    built = {
        event.output_name: models[keys[event.output_name]]
        for event in events
        if isinstance(event, dg.Output) and keys.get(event.output_name) in models
    }
    schemas = {node["schema"] for node in built.values()}
    columns = asset_metadata.gathered(
        context, "model columns", lambda: asset_metadata.warehouse_columns(warehouse, schemas)
    )
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in built:
            node = built[event.output_name]
            found = columns.get((node["schema"].lower(), (node.get("alias") or node["name"]).lower()))
            event = event.with_metadata({**event.metadata, **model_metadata(context, warehouse, node, found, window)})
        yield event
