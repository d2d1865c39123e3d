"""dbt models as assets: one multi-asset, so a run starts dbt once, with one `dbt build` over
the models it selects, and dbt's own graph orders the models and their tests.

Which models are daily-partitioned is the dbt project's call (the tag `partitioned`, see the
translator): they rebuild only the run's window; the others (state tables, and what reads every
window) are unpartitioned and always current, so usage of a customer who arrives late is billed
as soon as the customer is known. A run over a partition window (one day, or a range: a backfill
is still a single run) passes that window as the vars `min_date`/`max_date`, which only the
partitioned models read; an unpartitioned run (`state_sync`) passes none. Every build gets the
event-time range (`history_start`, `future_tolerance_minutes`) that staging checks usage against.

A run that selects only some models (a landing file's day, say) reads the others. On a fresh
warehouse those may not exist yet, so the step's build also takes the missing models the
selected ones read and the run would not build (in the same `dbt build`, ordered by dbt's graph:
one dbt start-up, not two), without their own tests, and reports no materialization for them:
they are built only so that the selected models can be. On PostgreSQL, replacing a table or
view drops the views that read it (dbt swaps the relation and drops the old one with CASCADE:
`billing.quarantine` reads the staging views, `billable_usage_daily` reads `customers`); so
after its build the step builds again every model the build made the warehouse lose.

The step reports the models' materializations once dbt is done, each with what the warehouse
then says about it (`defs/dbt/metadata.py`): DuckDB lets no other process read the file while
dbt writes it. A failed build still reports the models it built, without that metadata.
"""

import json
import logging

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from billing_pipelines.config import PARTITIONED_DATASETS, BillingConfig, ConfigError, current_config
from billing_pipelines.defs.dbt.metadata import with_warehouse_metadata
from billing_pipelines.defs.dbt.project import cached_parse, dbt_cli, dbt_project, ensure_manifest, warm_target
from billing_pipelines.defs.dbt.translator import BillingDbtTranslator
from billing_pipelines.defs.landing.assets import LANDING
from billing_pipelines.lib.asset_metadata import existing_relations, table_address, table_metadata
from billing_pipelines.lib.event_time_range import EventTimeRange
from billing_pipelines.lib.raw_assets import OWNER, raw_schema
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL, Warehouse, warehouse_for
from billing_pipelines.lib.windows import usage_partitions, window_of

DBT_ASSETS = "dbt_models"


def node_key(node: dict) -> dg.AssetKey:
    """The asset key of a dbt model (the translator's: schema, then name)."""
    return dg.AssetKey([node["schema"], node["name"]])


def missing_inputs(manifest: dict, existing: set[tuple[str, str]], selected: set[dg.AssetKey]) -> list[str]:
    """Models the run's build must take besides its selection: those the selected models read
    (directly or through others) that the warehouse does not have yet and that are not selected,
    plus every model those read that the warehouse lacks too, selected or not (one the run
    selects anyway is simply built once); dbt orders them all in one graph."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}

    def key(uid: str) -> dg.AssetKey:
        return node_key(models[uid])

    def lacking(uid: str) -> bool:
        return (models[uid]["schema"], models[uid]["alias"]) not in existing

    def ancestors(start: set[str], keep) -> set[str]:
        found: set[str] = set()
        pending = list(start)
        while pending:
            for parent in manifest["parent_map"].get(pending.pop(), []):
                if parent in models and parent not in found and keep(parent):
                    found.add(parent)
                    pending.append(parent)
        return found

    read = ancestors({uid for uid in models if key(uid) in selected}, keep=lambda uid: True)
    missing = {uid for uid in read if lacking(uid) and key(uid) not in selected}
    return sorted(models[uid]["name"] for uid in missing | ancestors(missing, keep=lacking))


def tests_beyond_selection(manifest: dict, extra: list[str], selected: set[dg.AssetKey]) -> list[str]:
    """The tests a build adds when it also selects the models `extra`: dbt runs every test that
    reads a selected model, so these are the tests that read one of `extra` and none of the
    models of `selected`. Excluded, the build runs the checks of its selection only."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    extra_models = {uid for uid, node in models.items() if node["name"] in extra}
    chosen = {uid for uid, node in models.items() if node_key(node) in selected}
    return sorted(
        node["name"]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and extra_models.intersection(manifest["parent_map"].get(uid, []))
        and not chosen.intersection(manifest["parent_map"].get(uid, []))
    )


def unrunnable_tests(
    manifest: dict, existing: set[tuple[str, str]], built: list[str], selected: set[dg.AssetKey]
) -> list[str]:
    """The tests dbt would add to the build that read a model the warehouse lacks and the build
    does not make, so could only fail: with no source of contracts, `billing.contracts` never
    exists, yet building `customers` selects the test that every contract's customer is known.
    A check of a selected model is always kept: Dagster waits for its result."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}

    def absent(uid: str) -> bool:
        node = models[uid]
        return (node["schema"], node["alias"]) not in existing and node["name"] not in built

    def of_selection(test: dict) -> bool:
        attached = models.get(test.get("attached_node") or "")
        return attached is not None and node_key(attached) in selected

    return sorted(
        node["name"]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and any(parent in models and absent(parent) for parent in manifest["parent_map"].get(uid, []))
        and not of_selection(node)
    )


def lost_models(manifest: dict, before: set[tuple[str, str]], after: set[tuple[str, str]]) -> list[str]:
    """Models the warehouse had before a build and lacks after it: views dropped with a relation
    they read when dbt replaced it (PostgreSQL)."""
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and (node["schema"], node["alias"]) in before
        and (node["schema"], node["alias"]) not in after
    )


def in_a_window(context: dg.AssetExecutionContext) -> bool:
    """Whether the step builds partitioned models for a window (a partition or a range)."""
    in_window = context.has_partition_key or context.has_partition_key_range
    return in_window and context.assets_def.partitions_def is not None


def build_vars(context: dg.AssetExecutionContext, event_times: EventTimeRange) -> list[str]:
    """`--vars` with the event-time range staging checks usage against and, when the step
    builds a window, the run's partition window."""
    values = event_times.dbt_vars() | (window_of(context).dbt_vars if in_a_window(context) else {})
    return ["--vars", json.dumps(values)]


def source_tables_not_loaded(config: BillingConfig, manifest: dict, warehouse: Warehouse) -> list[dg.AssetSpec]:
    """The raw tables the dbt project reads that billing.yaml loads nothing into (a source that
    is off, or a dataset a pulled source does not configure), as described external assets in
    their source's group, rather than bare keys the UI cannot say anything about. An enabled API
    source is taken to load every table of its schema."""
    loaded = {raw_schema(name) for name in config.enabled_api_sources}
    if config.landing.enabled:
        loaded.add(raw_schema(LANDING))
    pulled = {
        (raw_schema(name), dataset)
        for name, source in config.enabled_pulled_sources.items()
        for dataset in source.datasets
    }
    return [
        dg.AssetSpec(
            key=dg.AssetKey([node["source_name"], node["name"]]),
            description=(
                f"`{node['source_name']}.{node['name']}`, read by the dbt project, which billing.yaml loads "
                f"nothing into: {node.get('description') or node.get('source_description') or ''}".strip()
            ),
            group_name=node["source_name"].removeprefix(raw_schema("")),
            owners=[OWNER],
            kinds={warehouse.kind},
            metadata=table_metadata(table_address(warehouse, node["schema"], node["identifier"])),
        )
        for node in manifest["sources"].values()
        if node["source_name"] not in loaded and (node["source_name"], node["name"]) not in pulled
    ]


def raw_tables_nothing_reads(config: BillingConfig, manifest: dict) -> tuple[list[str], list[str]]:
    """The raw tables billing.yaml loads that no dbt model reads (a source named otherwise
    than its staging models: `app` for `app_db`, a Stripe source named `payments`), and the
    source names staging does read. An API source's tables are known only once loaded, so its
    schema counts as read when any of its tables is."""
    read = {
        (node["source_name"], node["name"])
        for uid, node in manifest["sources"].items()
        if any(child.startswith("model.") for child in manifest["child_map"].get(uid, []))
    }
    read_schemas = {schema for schema, _ in read}
    unread = [
        f"{raw_schema(name)}.{dataset}"
        for name, source in config.enabled_pulled_sources.items()
        for dataset in source.datasets
        if (raw_schema(name), dataset) not in read
    ]
    unread += [f"{raw_schema(name)}.*" for name in config.enabled_api_sources if raw_schema(name) not in read_schemas]
    return unread, sorted(schema.removeprefix(raw_schema("")) for schema in read_schemas)


def require_staging_for_every_load(config: BillingConfig, manifest: dict) -> None:
    """Refuse to load definitions whose usage loads would land events no model reads: they
    would never be billed and nothing would say so. Other unread raw tables (a source's
    customers not staged yet) are logged as a warning at every load of the definitions."""
    unread, staged = raw_tables_nothing_reads(config, manifest)
    problem = (
        f"billing.yaml: the sources load {', '.join(unread)}, which no dbt staging model reads, "
        "so their records would never reach the billing tables. Name each source as its staging models "
        f"do ({', '.join(staged)}), or add staging models for it (README: 'Adding a source')."
    )
    if any(table.rsplit(".", 1)[1] in PARTITIONED_DATASETS for table in unread):
        raise ConfigError(problem)
    if unread:
        logging.getLogger(__name__).warning(problem)


def dbt_definitions(config: BillingConfig) -> dg.Definitions:
    manifest = json.loads(ensure_manifest().read_text())
    require_staging_for_every_load(config, manifest)
    definition_warehouse = warehouse_for(config)

    @dbt_assets(
        name=DBT_ASSETS,
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=BillingDbtTranslator(
            config.schedules.freshness_hours,
            usage_partitions(config.history_start),
            lambda schema, table: table_address(definition_warehouse, schema, table),
        ),
        pool=WAREHOUSE_POOL,
        backfill_policy=dg.BackfillPolicy.single_run(),  # a partition range is one run, one `dbt build`
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        warehouse.export_for_dbt()
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}"
        selected = set(context.selected_asset_keys)
        outputs = context.op_execution_context.selected_output_names
        args = build_vars(context, config.event_time_range)
        existing = existing_relations(warehouse)
        build = ["build", *args]
        missing = missing_inputs(manifest, existing, selected)
        excluded = tests_beyond_selection(manifest, missing, selected) if missing else []
        if missing:
            context.log.info(
                f"also building what the selected models read and the warehouse lacks: {', '.join(missing)}"
            )
            build += ["--select", " ".join(missing)]
        built = missing + [
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node_key(node) in selected
        ]
        unrunnable = unrunnable_tests(manifest, existing, built, selected)
        if unrunnable:
            context.log.info(f"leaving out the tests of models no source feeds yet: {', '.join(unrunnable)}")
        excluded = sorted({*excluded, *unrunnable})
        if excluded:
            build += ["--exclude", " ".join(excluded)]
        events = []
        try:
            try:
                with warm_target(name, cached_parse(warehouse.identity, args)) as target:
                    for event in dbt.cli(build, context=context, target_path=target).stream():
                        if not isinstance(event, dg.Output) or event.output_name in outputs:
                            events.append(event)  # a missing input, built only for the selected models, is not reported
            finally:  # a failed build may have dropped views too
                if warehouse.drops_dependent_views:
                    lost = lost_models(manifest, existing, existing_relations(warehouse))
                    if lost:
                        context.log.info(f"building again the views the build dropped: {', '.join(lost)}")
                        with warm_target(f"{name}-lost", cached_parse(warehouse.identity, args)) as target:
                            run = ["run", "--select", " ".join(lost), *args]
                            dbt.cli(run, manifest=manifest, target_path=target).wait()
        except Exception:
            yield from events  # what dbt did build is reported, without reading a warehouse mid-failure
            raise
        window = window_of(context) if in_a_window(context) else None
        yield from with_warehouse_metadata(context, warehouse, manifest, events, window)

    unloaded = source_tables_not_loaded(config, manifest, definition_warehouse)
    return dg.Definitions(assets=[dbt_models, *unloaded], resources={"dbt": dbt_cli()})


@dg.definitions
def defs() -> dg.Definitions:
    return dbt_definitions(current_config())
