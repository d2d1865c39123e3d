"""Raw-layer assets of every enabled BigQuery source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.bigquery.extract import bigquery_source, dataset_query
from billing_pipelines.lib.raw_assets import PulledSourceKind, pulled_source_definitions

BIGQUERY = PulledSourceKind(
    kind="bigquery",
    system=lambda source: "bigquery",
    describe=lambda name, source: f"BigQuery project {source.project}",
    read=bigquery_source,
    check_dataset=dataset_query,
)


def bigquery_source_definitions(config: BillingConfig) -> dg.Definitions:
    """For each BigQuery source: its tables as external assets, and the dlt loads into
    raw_<source>. A table name that is not a BigQuery name, or a window parameter only inside a
    string, fails loading them."""
    return pulled_source_definitions(config, BIGQUERY)


@dg.definitions
def defs() -> dg.Definitions:
    return bigquery_source_definitions(current_config())
