"""Jobs: what a backfill, a sync and a landing file each (re)build, and how their steps run.

Each job takes a set of raw loads plus everything downstream of them, so the canonical model
and the marts are consistent when the run ends. The usage jobs are daily-partitioned; a range
of partitions runs as one run (every partitioned asset has a single-run backfill policy).

With DuckDB every step that writes the warehouse waits for the one slot of the `warehouse`
pool, so a run's steps go one after another anyway; they run in the run's own process, which
loads the code location once, instead of one new process per step that loads it again. That
executor is the default of the whole code location: these jobs, the landing sensor's, and
runs launched from the UI or by declarative automation.
"""

from __future__ import annotations

import dagster as dg

from billing_pipelines.config import PARTITIONED_DATASETS, STATE_DATASETS, BillingConfig, current_config
from billing_pipelines.defs.landing.assets import LANDING
from billing_pipelines.defs.landing.columns import REJECTED_RECORDS
from billing_pipelines.defs.landing.extract import REJECTED_FILES
from billing_pipelines.lib.raw_assets import raw_asset_key, raw_loads, raw_schema

SYNC_JOB = "billing_sync"
USAGE_JOB = "usage_by_day"
STATE_JOB = "state_sync"
LANDING_STATE_DATASETS = (*STATE_DATASETS, REJECTED_RECORDS, REJECTED_FILES)
"""The landing loads of a state run: state files, the push API's rejected records and the files
rejected whole, each read in full every time (no window)."""


def executor_for(config: BillingConfig) -> dg.ExecutorDefinition:
    """In-process where the warehouse takes one writer at a time (DuckDB); a server warehouse
    (PostgreSQL, Snowflake, BigQuery), whose steps can write in parallel, runs each step in its
    own process, as many at once as the `warehouse` pool allows."""
    return dg.in_process_executor if config.warehouse.kind == "duckdb" else dg.multiprocess_executor


def pulled_loads(config: BillingConfig, datasets: tuple[str, ...]) -> dg.AssetSelection:
    """The raw loads of `datasets` that the enabled pulled sources (SQL, Snowflake, BigQuery)
    are configured to provide."""
    return dg.AssetSelection.assets(
        *[
            raw_asset_key(name, dataset)
            for name, source in config.enabled_pulled_sources.items()
            for dataset in source.datasets
            if dataset in datasets
        ]
    )


def api_loads(config: BillingConfig) -> dg.AssetSelection:
    """Every raw table of the enabled SaaS sources (Stripe, HubSpot, Google Sheets): state, synced
    incrementally or whole by each source's own rules."""
    return dg.AssetSelection.key_prefixes(*[[raw_schema(name)] for name in config.enabled_api_sources])


def loads_and_downstream(name: str, selection: dg.AssetSelection, description: str) -> dg.UnresolvedAssetJobDefinition:
    """A job running some raw loads and every model downstream of them, partitioned by day
    when any of them is (Dagster infers it from the selected assets)."""
    return dg.define_asset_job(name, selection=selection.downstream(), description=description)


def sync_jobs(config: BillingConfig) -> list[dg.UnresolvedAssetJobDefinition]:
    """Every load (a migration or the scheduled sync), usage only, and state only."""
    landing = [LANDING] if config.landing.enabled else []
    usage = pulled_loads(config, PARTITIONED_DATASETS) | raw_loads(landing, PARTITIONED_DATASETS)
    state = pulled_loads(config, STATE_DATASETS) | api_loads(config) | raw_loads(landing, LANDING_STATE_DATASETS)
    return [
        loads_and_downstream(
            SYNC_JOB,
            usage | state,
            "Everything: state of every source and usage for the selected days (a range is one run), "
            "then the canonical model and marts. The historical migration and the scheduled sync.",
        ),
        loads_and_downstream(
            USAGE_JOB, usage, "Usage of every source for the selected days, then canonical usage and marts."
        ),
        loads_and_downstream(
            STATE_JOB,
            state,
            "Customers, contracts and items of every source (incremental), then the canonical model.",
        ),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    config = current_config()
    return dg.Definitions(jobs=sync_jobs(config), executor=executor_for(config))
