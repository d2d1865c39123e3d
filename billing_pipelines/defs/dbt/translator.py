"""How dbt nodes appear in Dagster: keys, groups, automation.

Models are keyed `[schema, model]` (`["staging", "stg_app_db__usage_events"]`,
`["billing", "usage_events"]`); dbt sources keep their default key `[source, table]`, which is
what the dlt loads emit, so lineage reads source → raw → staging → canonical → marts. Staging
models sit in their source's group; canonical models and marts in their own groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from billing_pipelines.lib.raw_assets import OWNER

STAGING_PREFIX = "stg_"


def model_group(name: str, folder: str) -> str:
    """`stg_<source>__<entity>` → `<source>`; canonical and marts keep their folder's name."""
    if name.startswith(STAGING_PREFIX) and "__" in name:
        return name.removeprefix(STAGING_PREFIX).split("__", 1)[0]
    return folder


class BillingDbtTranslator(DagsterDbtTranslator):
    """Keys by schema, groups by source/layer, and lets canonical models follow their inputs."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return model_group(dbt_resource_props["name"], fqn[1] if len(fqn) > 2 else "billing")

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return dg.AutomationCondition.eager()

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]
