"""Raw-layer assets of every enabled Snowflake source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.snowflake.extract import dataset_statement, snowflake_source
from billing_pipelines.lib.raw_assets import PulledSourceKind, pulled_source_definitions

SNOWFLAKE = PulledSourceKind(
    kind="snowflake",
    system=lambda source: "snowflake",
    describe=lambda name, source: f"{name} Snowflake database {source.database}",
    read=snowflake_source,
    check_dataset=dataset_statement,
)


def snowflake_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each Snowflake source: its datasets as external assets, and the dlt loads into
    raw_<source>. A query or table name that cannot be read safely fails loading them."""
    return pulled_source_definitions(config, SNOWFLAKE)


@dg.definitions
def defs() -> dg.Definitions:
    return snowflake_source_definitions(current_config())
