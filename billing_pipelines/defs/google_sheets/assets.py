"""Raw-layer assets of every enabled Google Sheets source in billing.yaml."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.google_sheets.extract import TABLE_MEANING, google_sheets_config_source
from billing_pipelines.lib.raw_assets import ApiSourceKind, api_source_definitions


def google_sheets_definitions(config: BillingConfig) -> dg.Definitions:
    """For each spreadsheet: its configured tabs (one per dataset) as external assets, and their
    load into raw_<source> (the service-account key read from `credentials_env` only when a run
    sends its first request)."""
    return api_source_definitions(
        config,
        ApiSourceKind(
            kind="google_sheets",
            tables=lambda source: list(source.tabs),
            meaning=TABLE_MEANING.__getitem__,
            read=google_sheets_config_source,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return google_sheets_definitions(current_config())
