"""How dbt nodes appear in Dagster: keys, groups, partitions, automation.

Models are keyed `[schema, model]` (`["staging", "stg_app_db__usage_events"]`,
`["billing", "usage_events"]`); dbt sources keep their default key `[source, table]`, which is
what the dlt loads emit, so lineage reads source → raw → staging → canonical → marts. Staging
models sit in their source's group; canonical models and marts in their own groups. The
canonical tables and marts (schema `billing`) carry a freshness policy: a sync that silently
stopped shows them failing in the UI.

Which models are daily-partitioned is the dbt project's call: a model tagged `partitioned` (it
reads the vars `min_date`/`max_date` and rebuilds only that window) gets the usage partitions;
every other model is unpartitioned and rebuilt whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from billing_pipelines.lib.asset_metadata import table_metadata
from billing_pipelines.lib.raw_assets import OWNER
from billing_pipelines.lib.warehouse import CANONICAL_SCHEMA

STAGING_PREFIX = "stg_"
SOURCE_MODEL_PREFIXES = (STAGING_PREFIX, "base_")
PARTITIONED_TAG = "partitioned"


def model_group(name: str, folder: str) -> str:
    """`stg_<source>__<entity>` and `base_<source>__<object>` → `<source>`; canonical and marts
    keep their folder's name."""
    for prefix in SOURCE_MODEL_PREFIXES:
        if name.startswith(prefix) and "__" in name:
            return name.removeprefix(prefix).split("__", 1)[0]
    return folder


def freshness(hours: float) -> dg.FreshnessPolicy:
    """Fail when the last update is older than `hours`; warn from half of that."""
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours / 2))


class BillingDbtTranslator(DagsterDbtTranslator):
    """Keys by schema, groups by source/layer, partitions the models tagged `partitioned` by
    `partitions`, lets canonical models follow their inputs, expects the canonical tables to be
    fresh within `freshness_hours`, and shows each model's relation where the warehouse in
    effect has it: `address(schema, name)` (dbt parses against an in-memory DuckDB, so the
    manifest's own database would read `memory`)."""

    def __init__(
        self, freshness_hours: float, partitions: dg.PartitionsDefinition, address: Callable[[str, str], str]
    ) -> None:
        super().__init__()
        self.freshness_policy = freshness(freshness_hours)
        self.partitions = partitions
        self.address = address

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is not None and node["resource_type"] in ("model", "seed", "snapshot"):
            relation = table_metadata(self.address(node["schema"], node.get("alias") or node["name"]))
            spec = spec.replace_attributes(metadata={**spec.metadata, **relation})
        if spec.key.path[0] == CANONICAL_SCHEMA:
            return spec.replace_attributes(freshness_policy=self.freshness_policy)
        return spec

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return model_group(dbt_resource_props["name"], fqn[1] if len(fqn) > 2 else "billing")

    def get_partitions_def(self, dbt_resource_props: Mapping[str, Any]) -> dg.PartitionsDefinition | None:
        return self.partitions if PARTITIONED_TAG in dbt_resource_props.get("tags", ()) else None

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return dg.AutomationCondition.eager()

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]
