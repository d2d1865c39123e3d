"""Time windows: how a daily usage partition (or a range of them) maps to event times.

Usage is partitioned by the UTC day of the event. A backfill over a range of days is a single
run over the half-open window `[start, end)`; every loader and every dbt model is given that
same window, so re-running it replaces exactly those days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg


@dataclass(frozen=True)
class Window:
    """Half-open UTC interval `[start, end)` of event time."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} .. {self.end.isoformat()}")

    @classmethod
    def for_days(cls, first: date, last: date) -> Window:
        """The window covering whole UTC days `first` through `last`, both included."""
        return cls(day_start(first), day_start(last + timedelta(days=1)))

    @property
    def dbt_vars(self) -> dict[str, str]:
        """The window as the `min_date`/`max_date` vars the partitioned dbt models read."""
        return {"min_date": self.start.isoformat(), "max_date": self.end.isoformat()}


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def usage_partitions(history_start: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day of usage, from `history_start` up to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=history_start.isoformat(), timezone="UTC")


def window_of(context: dg.AssetExecutionContext) -> Window:
    """The event-time window a (possibly multi-partition) run covers."""
    time_window = context.partition_time_window
    return Window(time_window.start.astimezone(UTC), time_window.end.astimezone(UTC))


def contiguous_day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Group days into inclusive runs of consecutive days, so a file touching days 3, 4 and 9
    re-runs exactly partitions 3–4 and 9, not the untouched days between them."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def latest_days(today: date, count: int) -> tuple[date, date]:
    """The `count` most recent complete UTC days before `today` (the sync's partitions)."""
    return today - timedelta(days=count), today - timedelta(days=1)
