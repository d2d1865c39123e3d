"""Raw-layer assets of every enabled BigQuery source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, ConfigError, config_path, current_config
from billing_pipelines.defs.bigquery.extract import bigquery_source, dataset_query
from billing_pipelines.lib.raw_assets import raw_load_assets, source_system_spec
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.lib.windows import usage_partitions


def check_queries(source_name: str, config: BillingConfig) -> None:
    """Fail the load on a dataset whose SQL cannot be built safely (a table name that is not a
    BigQuery name, a window parameter only inside a string): better than a run reading it."""
    for dataset, dataset_config in config.sources[source_name].datasets.items():
        try:
            dataset_query(dataset_config)
        except ValueError as error:
            raise ConfigError(f"{config_path()}: sources.{source_name}.datasets.{dataset}: {error}") from None


def bigquery_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each BigQuery source: its tables as external assets, and the dlt loads into raw_<source>."""
    partitions = usage_partitions(config.history_start)
    warehouse = warehouse_for(config)
    batch_rows = warehouse.limits.source_batch_rows
    assets: list = []
    for name, source in config.enabled_sources_of("bigquery").items():
        check_queries(name, config)
        datasets = list(source.datasets)
        described = source.description or f"BigQuery project {source.project}"
        assets += [source_system_spec(name, dataset, "bigquery", described) for dataset in datasets]

        def make_source(selected, window, name=name, source=source):
            return bigquery_source(name, source, selected, window, batch_rows)

        assets += raw_load_assets(name, make_source, datasets, partitions, warehouse)
    return dg.Definitions(assets=assets)


@dg.definitions
def defs() -> dg.Definitions:
    return bigquery_source_definitions(current_config())
