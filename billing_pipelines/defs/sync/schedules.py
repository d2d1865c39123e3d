"""The contemporary sync: on a cron, state loads plus the latest usage partitions."""

from datetime import date

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.windows import latest_days


def sync_window(today: date, config: BillingConfig) -> tuple[date, date]:
    """The days a sync tick re-loads: the latest complete days, never before history_start."""
    first, last = latest_days(today, config.schedules.sync_latest_partitions)
    return max(first, config.history_start), last


def sync_schedule(config: BillingConfig) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="contemporary_sync",
        job_name=SYNC_JOB,
        cron_schedule=config.schedules.sync_cron,
        execution_timezone=config.schedules.timezone,
        description="State of every source (incremental) and the latest usage days, then the canonical model.",
    )
    def contemporary_sync(context: dg.ScheduleEvaluationContext):
        first, last = sync_window(context.scheduled_execution_time.date(), config)
        if last < first:
            return dg.SkipReason(f"no complete usage day since history_start {config.history_start}")
        return dg.RunRequest(tags=partition_range_tags(first, last))

    return contemporary_sync


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(schedules=[sync_schedule(current_config())])
