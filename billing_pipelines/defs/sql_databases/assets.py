"""Raw-layer assets of every enabled SQL source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.sql_databases.extract import source_dialect, sql_source
from billing_pipelines.lib.raw_assets import PulledSourceKind, pulled_source_definitions


def sql_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each SQL source: its tables as external assets, and the dlt loads into raw_<source>."""
    return pulled_source_definitions(
        config,
        PulledSourceKind(
            kind="sql",
            system=lambda source: source_dialect(source, config.base_dir),
            describe=lambda name, source: f"{name} database",
            read=lambda name, source, selected, window, batch_rows: sql_source(
                name, source, config.base_dir, selected, window, batch_rows
            ),
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return sql_source_definitions(current_config())
