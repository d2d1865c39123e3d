"""Raw-layer assets of every enabled SQL source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.sql_databases.extract import source_dialect, sql_source
from billing_pipelines.lib.raw_assets import raw_load_assets, source_system_spec
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.lib.windows import usage_partitions


def sql_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each SQL source: its tables as external assets, and the dlt loads into raw_<source>."""
    partitions = usage_partitions(config.history_start)
    warehouse = warehouse_for(config)
    batch_rows = warehouse.limits.source_batch_rows
    assets: list = []
    for name, source in config.enabled_sources_of("sql").items():
        datasets = list(source.datasets)
        system = source_dialect(source, config.base_dir)
        described = source.description or f"{name} database"
        assets += [source_system_spec(name, dataset, system, described) for dataset in datasets]

        def make_source(selected, window, name=name, source=source):
            return sql_source(name, source, config.base_dir, selected, window, batch_rows)

        assets += raw_load_assets(name, make_source, datasets, partitions, warehouse)
    return dg.Definitions(assets=assets)


@dg.definitions
def defs() -> dg.Definitions:
    return sql_source_definitions(current_config())
