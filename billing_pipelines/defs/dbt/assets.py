"""dbt models as assets: the usage chain per daily window, everything else as a whole.

Models tagged `partitioned` (the usage staging views and canonical `usage_events`) run for the
run's partition window, passed as the vars `min_date`/`max_date`; a backfill over a range is a
single `dbt build` over that window. The other models (state, quarantine, marts) are rebuilt
whole: small, and always consistent with every partition loaded so far.
"""


import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from billing_pipelines.config import current_config
from billing_pipelines.defs.dbt.project import dbt_cli, dbt_project, ensure_manifest
from billing_pipelines.defs.dbt.translator import BillingDbtTranslator
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL, Warehouse
from billing_pipelines.lib.windows import usage_partitions, window_of

PARTITIONED = "tag:partitioned"


def dbt_definitions(history_start) -> dg.Definitions:
    manifest = ensure_manifest()
    translator = BillingDbtTranslator()

    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        select=PARTITIONED,
        name="dbt_usage_by_window",
        partitions_def=usage_partitions(history_start),
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def usage_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        window = window_of(context)
        yield from dbt.cli(["build", "--vars", window.dbt_vars_json], context=context).stream()

    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        exclude=PARTITIONED,
        name="dbt_state_and_marts",
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def whole_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        yield from dbt.cli(["build"], context=context).stream()

    return dg.Definitions(assets=[usage_models, whole_models], resources={"dbt": dbt_cli()})


@dg.definitions
def defs() -> dg.Definitions:
    return dbt_definitions(current_config().history_start)
