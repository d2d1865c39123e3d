"""Resources shared by every source, defined once and chosen from the configuration."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltResource

from billing_pipelines.config import current_config
from billing_pipelines.lib.warehouse import warehouse_for


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "dlt": DagsterDltResource(),
            "warehouse": warehouse_for(current_config()),
        }
    )
