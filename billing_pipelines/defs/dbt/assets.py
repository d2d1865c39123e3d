"""dbt models as assets, in three steps that run in this order within a run:

1. state: staging and canonical customers, contracts and contract items (rebuilt whole);
2. usage by window: the usage staging views and canonical `usage_events` (tag `partitioned`),
   for the run's partition window, passed as the vars `min_date`/`max_date`; a backfill over
   a range is a single `dbt build` over that window. Its checks read `customers` (step 1);
3. marts and quarantine: rebuilt whole from everything loaded so far, so usage of a customer
   who arrives late is billed as soon as the customer is known.

A run that selects only some models (a landing file's day, say) reads the others. On a fresh
warehouse those may not exist yet, so a step first builds the missing models the run itself
will not build.
"""

import json
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.dbt.project import dbt_cli, dbt_project, ensure_manifest
from billing_pipelines.defs.dbt.translator import BillingDbtTranslator
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL, Warehouse
from billing_pipelines.lib.windows import usage_partitions, window_of

USAGE_MODELS = "tag:partitioned"
MARTS_AND_QUARANTINE = "path:models/marts quarantine"


def missing_inputs(
    manifest: dict, existing: set[tuple[str, str]], in_run: set[dg.AssetKey], in_step: set[dg.AssetKey]
) -> list[str]:
    """Models this step's models read (directly or through others) that the warehouse does not
    have yet and that this run does not build itself."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}

    def key(node: dict) -> dg.AssetKey:
        return dg.AssetKey([node["schema"], node["name"]])

    pending = [uid for uid, node in models.items() if key(node) in in_step]
    upstream: set[str] = set()
    while pending:
        for parent in manifest["parent_map"].get(pending.pop(), []):
            if parent in models and parent not in upstream:
                upstream.add(parent)
                pending.append(parent)
    return sorted(
        models[uid]["name"]
        for uid in upstream
        if (models[uid]["schema"], models[uid]["alias"]) not in existing and key(models[uid]) not in in_run
    )


def existing_relations(warehouse: Warehouse) -> set[tuple[str, str]]:
    if not Path(warehouse.path).exists():
        return set()
    with warehouse.connect() as connection:
        return set(connection.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall())


def run_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, manifest: dict, args: list[str]
):
    """`dbt <args>` for the selected models, against the configured warehouse."""
    warehouse.export_for_dbt()
    in_run = set(context.job_def.asset_layer.selected_asset_keys)
    missing = missing_inputs(manifest, existing_relations(warehouse), in_run, set(context.selected_asset_keys))
    if missing:
        context.log.info(f"first building what the selected models read and the warehouse lacks: {', '.join(missing)}")
        dbt.cli(["run", "--select", " ".join(missing)], manifest=manifest).wait()
    yield from dbt.cli(args, context=context).stream()


def dbt_definitions(config: BillingConfig) -> dg.Definitions:
    manifest = json.loads(ensure_manifest().read_text())
    translator = BillingDbtTranslator(config.schedules.freshness_hours)
    # Every step runs once per run, also in a partition-range run from the CLI (single_run).
    common = dict(
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )

    @dbt_assets(name="dbt_state_models", exclude=f"{USAGE_MODELS} {MARTS_AND_QUARANTINE}", **common)
    def state_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        yield from run_dbt(context, dbt, warehouse, manifest, ["build"])

    @dbt_assets(
        name="dbt_usage_by_window",
        select=USAGE_MODELS,
        partitions_def=usage_partitions(config.history_start),
        **common,
    )
    def usage_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        yield from run_dbt(context, dbt, warehouse, manifest, ["build", "--vars", window_of(context).dbt_vars_json])

    @dbt_assets(name="dbt_marts_and_quarantine", select=MARTS_AND_QUARANTINE, **common)
    def marts_and_quarantine(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        yield from run_dbt(context, dbt, warehouse, manifest, ["build"])

    return dg.Definitions(assets=[state_models, usage_models, marts_and_quarantine], resources={"dbt": dbt_cli()})


@dg.definitions
def defs() -> dg.Definitions:
    return dbt_definitions(current_config())
