"""Raw-layer assets of every enabled HubSpot source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.hubspot.extract import TABLE_MEANING, TABLES, hubspot_config_source
from billing_pipelines.lib.raw_assets import ApiSourceKind, api_source_definitions


def hubspot_definitions(config: BillingConfig) -> dg.Definitions:
    """For each HubSpot portal: its records and deal pairs as external assets, and their load
    into raw_<source> (the token read from `token_env` only when a request is sent)."""
    return api_source_definitions(
        config,
        ApiSourceKind(
            kind="hubspot",
            tables=lambda source: list(TABLES),
            meaning=TABLE_MEANING.__getitem__,
            read=hubspot_config_source,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return hubspot_definitions(current_config())
