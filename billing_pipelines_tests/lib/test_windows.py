"""Partition-window arithmetic: which event times a run covers and which days it re-runs."""

from datetime import UTC, date, datetime

import pytest

from billing_pipelines.lib.windows import Window, contiguous_day_ranges, latest_days, usage_partitions


def test_window_for_days_is_half_open_over_whole_utc_days():
    window = Window.for_days(date(2026, 9, 1), date(2026, 9, 3))
    assert window.start == datetime(2026, 9, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 9, 4, tzinfo=UTC)
    assert window.dbt_vars == {
        "min_date": "2026-09-01T00:00:00+00:00",
        "max_date": "2026-09-04T00:00:00+00:00",
    }


def test_window_rejects_naive_or_empty_bounds():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 9, 1), datetime(2026, 9, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="empty window"):
        Window(datetime(2026, 9, 2, tzinfo=UTC), datetime(2026, 9, 2, tzinfo=UTC))


def test_contiguous_day_ranges_splits_at_gaps_and_ignores_order_and_repeats():
    days = [date(2026, 9, 9), date(2026, 9, 3), date(2026, 9, 4), date(2026, 9, 3)]
    assert contiguous_day_ranges(days) == [
        (date(2026, 9, 3), date(2026, 9, 4)),
        (date(2026, 9, 9), date(2026, 9, 9)),
    ]
    assert contiguous_day_ranges([]) == []


def test_latest_days_are_complete_days_before_today():
    assert latest_days(date(2026, 11, 27), 2) == (date(2026, 11, 25), date(2026, 11, 26))


def test_usage_partitions_start_at_history_start_and_are_utc_days():
    partitions = usage_partitions(date(2026, 8, 1))
    keys = partitions.get_partition_keys(current_time=datetime(2026, 8, 4, 6, tzinfo=UTC))
    assert keys == ["2026-08-01", "2026-08-02", "2026-08-03"]
