"""dbt models as assets, in three steps that run in this order within a run:

1. state: staging and canonical customers, contracts and contract items (rebuilt whole);
2. usage by window: the usage staging views and canonical `usage_events` (tag `partitioned`),
   for the run's partition window, passed as the vars `min_date`/`max_date`; a backfill over
   a range is a single `dbt build` over that window. Its checks read `customers` (step 1);
3. marts and quarantine: rebuilt whole from everything loaded so far, so usage of a customer
   who arrives late is billed as soon as the customer is known.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from billing_pipelines.config import current_config
from billing_pipelines.defs.dbt.project import dbt_cli, dbt_project, ensure_manifest
from billing_pipelines.defs.dbt.translator import BillingDbtTranslator
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL, Warehouse
from billing_pipelines.lib.windows import usage_partitions, window_of

USAGE_MODELS = "tag:partitioned"
MARTS_AND_QUARANTINE = "path:models/marts quarantine"


def dbt_definitions(history_start) -> dg.Definitions:
    manifest = ensure_manifest()
    translator = BillingDbtTranslator()
    common = dict(manifest=manifest, project=dbt_project, dagster_dbt_translator=translator, pool=WAREHOUSE_POOL)

    @dbt_assets(name="dbt_state_models", exclude=f"{USAGE_MODELS} {MARTS_AND_QUARANTINE}", **common)
    def state_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        yield from dbt.cli(["build"], context=context).stream()

    @dbt_assets(
        name="dbt_usage_by_window",
        select=USAGE_MODELS,
        partitions_def=usage_partitions(history_start),
        backfill_policy=dg.BackfillPolicy.single_run(),
        **common,
    )
    def usage_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        yield from dbt.cli(["build", "--vars", window_of(context).dbt_vars_json], context=context).stream()

    @dbt_assets(name="dbt_marts_and_quarantine", select=MARTS_AND_QUARANTINE, **common)
    def marts_and_quarantine(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        yield from dbt.cli(["build"], context=context).stream()

    return dg.Definitions(assets=[state_models, usage_models, marts_and_quarantine], resources={"dbt": dbt_cli()})


@dg.definitions
def defs() -> dg.Definitions:
    return dbt_definitions(current_config().history_start)
