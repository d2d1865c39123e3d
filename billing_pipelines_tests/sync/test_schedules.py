"""The contemporary sync: each tick re-loads the latest complete days, never before history."""

from datetime import UTC, datetime

import dagster as dg

from billing_pipelines.config import parse_config
from billing_pipelines.defs.sync.schedules import sync_schedule
from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START


def evaluate(history_start: str, at: datetime):
    config = parse_config(f'history_start: "{history_start}"\nschedules: {{sync_latest_partitions: 3}}\n')
    context = dg.build_schedule_context(scheduled_execution_time=at)
    return sync_schedule(config).evaluate_tick(context)


def test_a_tick_syncs_the_latest_complete_days_as_one_run():
    [request] = evaluate("2026-08-01", datetime(2026, 11, 27, 0, 15, tzinfo=UTC)).run_requests
    assert (request.tags[PARTITION_RANGE_START], request.tags[PARTITION_RANGE_END]) == ("2026-11-24", "2026-11-26")


def test_the_window_never_starts_before_history_start():
    [request] = evaluate("2026-11-25", datetime(2026, 11, 27, 0, 15, tzinfo=UTC)).run_requests
    assert request.tags[PARTITION_RANGE_START] == "2026-11-25"


def test_no_complete_day_yet_skips_the_tick():
    result = evaluate("2026-11-27", datetime(2026, 11, 27, 0, 15, tzinfo=UTC))
    assert result.run_requests == [] and "no complete usage day" in result.skip_message
