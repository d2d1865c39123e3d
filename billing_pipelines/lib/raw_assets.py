"""Naming of the raw layer, shared by every source.

A dlt resource `<dataset>` of source `<source>` becomes the asset `["raw_<source>", "<dataset>"]`,
which is exactly the dbt source `raw_<source>.<dataset>`: the lineage graph links extract/load
to the dbt staging models with no extra configuration. Upstream of it sits an external asset
`["<source>", "<dataset>"]` standing for the data in the source system itself.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource

from billing_pipelines.config import PARTITIONED_DATASETS, BillingConfig, ConfigError, config_path
from billing_pipelines.lib import asset_metadata, step_retries
from billing_pipelines.lib.runtime import keep_row_ids
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL, Warehouse, warehouse_for
from billing_pipelines.lib.windows import Window, usage_partitions, window_of

DATASET_MEANING = {
    "customers": "who is billed: names, billing addresses, tax ids, currency",
    "contracts": "what each customer agreed to: status, currency, term and renewal",
    "contract_items": "the priced lines of each contract: product, pricing model, unit amount, metric",
    "usage_events": "metered usage: one row per billable event, partitioned by UTC day",
    "rejected_records": "records the push API refused itself (bad types, timestamps out of range), each with "
    "the API's reason and the record as sent, for billing.quarantine",
    "rejected_files": "landing files rejected whole (unknown columns, unreadable), kept for review",
}
OWNER = "team:billing-data"


def raw_schema(source_name: str) -> str:
    return f"raw_{source_name}"


def raw_asset_key(source_name: str, dataset: str) -> dg.AssetKey:
    return dg.AssetKey([raw_schema(source_name), dataset])


def raw_loads(sources: list[str], datasets) -> dg.AssetSelection:
    """The raw-layer assets `["raw_<source>", <dataset>]` of some sources."""
    return dg.AssetSelection.assets(*[raw_asset_key(source, dataset) for source in sources for dataset in datasets])


def source_system_spec(
    source_name: str, dataset: str, system_kind: str, description: str, meaning: str | None = None
) -> dg.AssetSpec:
    """The data as it sits in the source system: an external asset Dagster does not materialize."""
    return dg.AssetSpec(
        key=dg.AssetKey([source_name, dataset]),
        description=f"{description}: {meaning or DATASET_MEANING.get(dataset, dataset)}",
        group_name=source_name,
        kinds={system_kind},
        owners=[OWNER],
    )


@dataclass
class RawLayerTranslator(DagsterDltTranslator):
    """Maps a source's dlt resources to raw-layer asset specs in that source's group, with the
    raw table's real address in `warehouse` and the columns the resource declares."""

    source_name: str
    warehouse: Warehouse
    meaning: Callable[[str], str] = lambda dataset: DATASET_MEANING.get(dataset, dataset)

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        dataset = data.resource.name
        schema = raw_schema(self.source_name)
        default = super().get_asset_spec(data)
        table = asset_metadata.table_metadata(
            asset_metadata.table_address(self.warehouse, schema, dataset), declared_columns(data.resource.columns)
        )
        return default.replace_attributes(
            key=raw_asset_key(self.source_name, dataset),
            deps=[dg.AssetKey([self.source_name, dataset])],
            group_name=self.source_name,
            description=(
                f"`{dataset}` from `{self.source_name}` as delivered, loaded by dlt into "
                f"`{schema}.{dataset}`: {self.meaning(dataset)}."
            ),
            owners=[OWNER],
            kinds={"dlt", self.warehouse.kind},
            metadata={**default.metadata, **table},
        )


def declared_columns(columns: Any) -> dg.TableSchema | None:
    """The columns a dlt resource declares with a type (dlt's schema has the rest once a load
    ran: each materialization carries them); None when it declares none."""
    typed = [
        dg.TableColumn(name, column["data_type"])
        for name, column in (columns if isinstance(columns, dict) else {}).items()
        if column.get("data_type")
    ]
    return dg.TableSchema(columns=typed) if typed else None


MakeSource = Callable[[list[str], Window | None], DltSource]
"""Builds a source's dlt source for some datasets; with a window for partitioned usage."""


def raw_load_assets(
    source_name: str,
    make_source: MakeSource,
    datasets: list[str],
    partitions: dg.PartitionsDefinition,
    definition_warehouse: Warehouse,
    rejects: Mapping[str, str] | None = None,
) -> list[dg.AssetsDefinition]:
    """The raw-layer assets of one source: one multi-asset for its state datasets (merged on
    their keys, incremental), one daily-partitioned asset for its usage (one run per range).
    `rejects` names the tables that hold rejected records, with their reason column."""
    translator = RawLayerTranslator(source_name, definition_warehouse)
    state = [d for d in datasets if d not in PARTITIONED_DATASETS]
    usage = [d for d in datasets if d in PARTITIONED_DATASETS]
    loads = [("state", state, None), ("usage", usage, partitions)]
    return [
        _dlt_load(
            f"{source_name}_{kind}",
            raw_schema(source_name),
            selected,
            make_source,
            translator,
            by_day,
            definition_warehouse,
            rejects or {},
        )
        for kind, selected, by_day in loads
        if selected
    ]


def _dlt_load(
    pipeline_name: str,
    dataset_name: str,
    datasets: list[str],
    make_source: MakeSource,
    translator: RawLayerTranslator,
    partitions: dg.PartitionsDefinition | None,
    definition_warehouse: Warehouse,
    rejects: Mapping[str, str],
) -> dg.AssetsDefinition:
    """One dlt pipeline as a multi-asset; partitioned loads read the run's window. A transient
    failure retries the step (`step_retries.RAW_LOAD_RETRY`); any other fails it once."""

    @dg.multi_asset(
        name=pipeline_name,
        specs=build_dlt_asset_specs(
            dlt_source=make_source(datasets, None),
            dlt_pipeline=definition_warehouse.dlt_pipeline(pipeline_name, dataset_name),
            dagster_dlt_translator=translator,
        ),
        can_subset=True,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        retry_policy=step_retries.RAW_LOAD_RETRY,
    )
    def load(context: dg.AssetExecutionContext, dlt: DagsterDltResource, warehouse: Warehouse):
        window = window_of(context) if partitions else None
        tables = [key.path[-1] for key in context.selected_asset_keys]
        with step_retries.permanent_failures_fail_fast(f"loading {dataset_name}"):
            keep_row_ids(pipeline_name, warehouse.has_row_ids(dataset_name))
            before = asset_metadata.gathered(
                context, dataset_name, lambda: _row_counts(warehouse, dataset_name, tables, window)
            )
            pipeline = warehouse.dlt_pipeline(pipeline_name, dataset_name)
            results = list(
                dlt.run(
                    context=context,
                    dlt_source=make_source(datasets, window),
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=translator,
                )
            )
        for result in results:
            table = result.asset_key.path[-1]
            described = asset_metadata.gathered(
                context,
                f"{dataset_name}.{table}",
                lambda table=table: _load_metadata(warehouse, pipeline, dataset_name, table, before, rejects, window),
            )
            if window is not None:
                described.update(asset_metadata.source_window(window.start, window.end))
            address = asset_metadata.table_address(warehouse, dataset_name, table)
            metadata = {**(result.metadata or {}), **asset_metadata.table_metadata(address), **described}
            yield dg.MaterializeResult(asset_key=result.asset_key, metadata=metadata)

    return load


def _row_counts(warehouse: Warehouse, schema: str, tables: list[str], window: Window | None) -> dict[str, int]:
    """Rows of each table (of its days in `window`) before a load; 0 for a table not created yet."""
    existing = asset_metadata.existing_relations(warehouse)
    return {
        table: asset_metadata.row_count(warehouse, schema, table, window) if (schema, table) in existing else 0
        for table in tables
    }


def _load_metadata(
    warehouse: Warehouse,
    pipeline: dlt.Pipeline,
    schema: str,
    table: str,
    before: Mapping[str, int],
    rejects: Mapping[str, str],
    window: Window | None,
) -> dict[str, Any]:
    """What one raw table's load did: its counts, the live cursor where the next sync starts, the
    rejected records by reason (for a table of rejects), and a preview of its rows."""
    if (schema, table) not in asset_metadata.existing_relations(warehouse):
        return asset_metadata.load_counts(before.get(table), None, 0)  # nothing delivered yet
    loaded = pipeline.last_trace.last_normalize_info.row_counts.get(table, 0)
    after = asset_metadata.row_count(warehouse, schema, table, window)
    metadata = {
        **asset_metadata.load_counts(before.get(table), after, loaded, windowed=window is not None),
        **asset_metadata.incremental_cursors(pipeline.state, table),
        "preview": asset_metadata.table_preview(warehouse, schema, table),
    }
    if table in rejects:
        load_ids = ", ".join(f"'{load_id}'" for load_id in pipeline.last_trace.last_load_info.loads_ids)
        by_reason = asset_metadata.counts(
            warehouse,
            f"SELECT {rejects[table]}, count(*) FROM {asset_metadata.quoted_table(warehouse, schema, table)}"
            f" WHERE _dlt_load_id IN ({load_ids or 'NULL'}) GROUP BY 1",
        )
        metadata.update(asset_metadata.quarantine_metadata(by_reason))
    return metadata


@dataclass(frozen=True)
class PulledSourceKind:
    """What differs between the kinds of source the pipeline pulls with queries (`sql`,
    `snowflake`, `bigquery`); everything else about their assets is shared."""

    kind: str
    """The `kind` of the sources in billing.yaml."""
    system: Callable[[Any], str]
    """The kind shown on a source's external assets (its database engine)."""
    describe: Callable[[str, Any], str]
    """A source's description when billing.yaml gives none."""
    read: Callable[[str, Any, list[str], Window | None, int], DltSource]
    """The dlt source reading some datasets of a source, for a window, in batches of a size."""
    check_dataset: Callable[[Any], Any] | None = None
    """Builds a dataset's statement, raising ValueError where it cannot be built safely."""


def pulled_source_definitions(config: BillingConfig, source_kind: PulledSourceKind) -> dg.Definitions:
    """For each enabled source of one kind: its datasets as external assets in the source
    system, and the dlt loads into `raw_<source>`. A dataset whose SQL cannot be built safely
    fails loading the definitions, naming it, rather than a run reading it."""
    partitions = usage_partitions(config.history_start)
    warehouse = warehouse_for(config)
    batch_rows = warehouse.limits.source_batch_rows
    assets: list = []
    for name, source in config.enabled_sources_of(source_kind.kind).items():
        datasets = list(source.datasets)
        if source_kind.check_dataset is not None:
            for dataset in datasets:
                try:
                    source_kind.check_dataset(source.datasets[dataset])
                except ValueError as error:
                    raise ConfigError(f"{config_path()}: sources.{name}.datasets.{dataset}: {error}") from None
        described = source.description or source_kind.describe(name, source)
        system = source_kind.system(source)
        assets += [source_system_spec(name, dataset, system, described) for dataset in datasets]

        def make_source(selected, window, name=name, source=source):
            return source_kind.read(name, source, selected, window, batch_rows)

        assets += raw_load_assets(name, make_source, datasets, partitions, warehouse)
    return dg.Definitions(assets=assets)


@dataclass(frozen=True)
class ApiSourceKind:
    """What differs between the SaaS sources (`stripe`, `hubspot`, `google_sheets`): their raw
    tables are the API's own objects, loaded whole or incrementally by one unpartitioned dlt
    pipeline per source, and staged into the canonical datasets by dbt."""

    kind: str
    """The `kind` of the sources in billing.yaml, also shown on their assets."""
    tables: Callable[[Any], list[str]]
    """The raw tables a source loads (the API's objects, or a sheet's tabs)."""
    meaning: Callable[[str], str]
    """What a raw table holds, for billing."""
    read: Callable[[str, Any, list[str]], DltSource]
    """The dlt source reading some tables of a source."""


def api_source_definitions(config: BillingConfig, source_kind: ApiSourceKind) -> dg.Definitions:
    """For each enabled source of one API kind: its objects as external assets in the service,
    and one dlt load into `raw_<source>` (a multi-asset: a run may select some of its tables)."""
    warehouse = warehouse_for(config)
    assets: list = []
    for name, source in config.enabled_sources_of(source_kind.kind).items():
        tables = source_kind.tables(source)
        described = source.description or f"{name} ({source_kind.kind})"
        assets += [
            source_system_spec(name, table, source_kind.kind, described, source_kind.meaning(table)) for table in tables
        ]

        def make_source(selected, _window, name=name, source=source):
            return source_kind.read(name, source, selected)

        translator = RawLayerTranslator(name, warehouse, source_kind.meaning)
        assets.append(_dlt_load(f"{name}_api", raw_schema(name), tables, make_source, translator, None, warehouse, {}))
    return dg.Definitions(assets=assets)
