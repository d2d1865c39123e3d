"""Raw-layer assets of every enabled Snowflake source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, ConfigError, current_config
from billing_pipelines.defs.snowflake.extract import dataset_statement, snowflake_source
from billing_pipelines.lib.raw_assets import raw_load_assets, source_system_spec
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.lib.windows import usage_partitions


def snowflake_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each Snowflake source: its datasets as external assets, and the dlt loads into
    raw_<source>. A query or table name that cannot be read safely fails the load, not a run."""
    partitions = usage_partitions(config.history_start)
    warehouse = warehouse_for(config)
    batch_rows = warehouse.limits.source_batch_rows
    assets: list = []
    for name, source in config.enabled_sources_of("snowflake").items():
        datasets = list(source.datasets)
        for dataset in datasets:
            try:
                dataset_statement(source.datasets[dataset])
            except ValueError as error:
                raise ConfigError(f"sources.{name}.datasets.{dataset}: {error}") from None
        described = source.description or f"{name} Snowflake database {source.database}"
        assets += [source_system_spec(name, dataset, "snowflake", described) for dataset in datasets]

        def make_source(selected, window, name=name, source=source):
            return snowflake_source(name, source, selected, window, batch_rows)

        assets += raw_load_assets(name, make_source, datasets, partitions, warehouse)
    return dg.Definitions(assets=assets)


@dg.definitions
def defs() -> dg.Definitions:
    return snowflake_source_definitions(current_config())
