"""Launching a job for a range of usage days from Python (the demo, tests, scripts)."""

from datetime import date

import dagster as dg

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the daily partitions `first`..`last`."""
    return {PARTITION_RANGE_START: first.isoformat(), PARTITION_RANGE_END: last.isoformat()}


def run_days(
    defs: dg.Definitions,
    job_name: str,
    first: date | None,
    last: date | None,
    instance: dg.DagsterInstance,
    run_id: str | None = None,
    **tags: str,
) -> dg.ExecuteInProcessResult:
    """Run `job_name` once over the days `first`..`last` (None for an unpartitioned job),
    recorded in `instance` like a run launched from the UI (as run `run_id`, if given)."""
    range_tags = partition_range_tags(first, last) if first and last else {}
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, tags={**range_tags, **tags}, raise_on_error=False, run_id=run_id
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """Each failed step and what went wrong: the innermost error of its chain (Dagster wraps the
    source's own error in "Error occurred while executing op …")."""
    return "\n".join(
        f"{event.step_key}: {root_cause(event.event_specific_data.error).message.strip()}"
        for event in result.get_step_failure_events()
    )


def root_cause(error):
    """The innermost error a serialized error was caused by (or the error itself)."""
    while error.cause is not None:
        error = error.cause
    return error
