"""Raw-layer assets of the landing zone: `raw_landing.<dataset>`, `raw_landing.rejected_records`
(records the push API refused) and `raw_landing.rejected_files`."""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import DATASETS, BillingConfig, current_config
from billing_pipelines.defs.landing.columns import REJECTED_RECORDS
from billing_pipelines.defs.landing.extract import REJECTED_FILES, landing_source
from billing_pipelines.lib.raw_assets import raw_load_assets, source_system_spec
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.lib.windows import usage_partitions

LANDING = "landing"


def landing_definitions(config: BillingConfig) -> dg.Definitions:
    """CSV files per dataset (external assets) and their dlt loads into raw_landing; the loads
    of `rejected_records` and `rejected_files` show the records the push API refused and the
    files rejected whole, by reason."""
    if not config.landing.enabled:
        return dg.Definitions()
    datasets = [*DATASETS, REJECTED_RECORDS, REJECTED_FILES]
    files = [source_system_spec(LANDING, d, "csv", "CSV files in the landing zone") for d in datasets]

    def make_source(selected, window):
        return landing_source(config.landing_path, selected, config.event_time_range, window)

    warehouse = warehouse_for(config)
    partitions = usage_partitions(config.history_start)
    loads = raw_load_assets(
        LANDING,
        make_source,
        datasets,
        partitions,
        warehouse,
        rejects={REJECTED_RECORDS: "reason", REJECTED_FILES: "reason"},
    )
    return dg.Definitions(assets=[*files, *loads])


@dg.definitions
def defs() -> dg.Definitions:
    return landing_definitions(current_config())
