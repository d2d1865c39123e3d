"""The event-time range of the tests' billing.yaml files: `history_start: "2026-08-01"` and the
default `future_tolerance_minutes` (60), for tests that call the landing zone's functions
directly rather than through a config."""

from datetime import date, timedelta

from billing_pipelines.lib.event_time_range import EventTimeRange

TEST_EVENT_TIMES = EventTimeRange(date(2026, 8, 1), timedelta(minutes=60))
