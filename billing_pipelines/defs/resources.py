"""Resources shared by every source, defined once and chosen from the configuration."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltResource

from billing_pipelines.config import current_config
from billing_pipelines.lib.warehouse import Warehouse


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "dlt": DagsterDltResource(),
            "warehouse": Warehouse(path=str(current_config().warehouse_path)),
        }
    )
