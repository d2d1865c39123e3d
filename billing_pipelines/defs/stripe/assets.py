"""Raw-layer assets of every enabled Stripe source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.stripe.extract import OBJECTS, TABLE_MEANING, stripe_client, stripe_dlt_source
from billing_pipelines.lib.raw_assets import ApiSourceKind, api_source_definitions


def stripe_definitions(config: BillingConfig) -> dg.Definitions:
    """For each Stripe account: its objects as external assets, and their load into raw_<source>."""
    return api_source_definitions(
        config,
        ApiSourceKind(
            kind="stripe",
            tables=lambda source: list(OBJECTS),
            meaning=TABLE_MEANING.__getitem__,
            read=lambda name, source, tables: stripe_dlt_source(
                stripe_client(name, source), tables, external_id_key=source.external_id_key
            ),
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return stripe_definitions(current_config())
