"""Declarative automation: canonical models and marts follow their inputs (the dbt assets'
`eager` conditions), whoever loaded the inputs: a job, a backfill or a hand-launched asset."""

import dagster as dg

automation = dg.AutomationConditionSensorDefinition(
    "billing_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Rebuilds the staging, canonical and mart models whose inputs changed (their eager "
        "automation conditions), whatever loaded the inputs: a job, a backfill or a hand-launched asset."
    ),
)
