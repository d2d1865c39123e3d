"""The event times a usage record may have to be billed: from `history_start` (the first daily
partition) up to `future_tolerance_minutes` after the record arrived.

Every channel applies the same range. The push API answers a record outside it with a
per-record rejection; the landing reader gives such a row no partition day (`_event_date`
NULL, so every window's run shows it in the quarantine rather than one that is never run); and
staging quarantines it with its reason, on every warehouse (dbt vars `history_start` and
`future_tolerance_minutes`). So a record outside the range never fails a run, never reaches
the marts, and is never lost.

Arrival, not the clock, bounds the future: a record is judged by when it was received (a
landing file's `_received_at`, a pulled row's load), so re-running a window gives the same
answer tomorrow as today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class EventTimeRange:
    """The event times that have a partition: from `history_start` to a little after arrival."""

    history_start: date
    future_tolerance: timedelta

    @property
    def start(self) -> datetime:
        """The earliest event time accepted: midnight UTC of `history_start`."""
        return datetime.combine(self.history_start, datetime.min.time(), UTC)

    @property
    def tolerance_minutes(self) -> float:
        return self.future_tolerance.total_seconds() / 60

    def bounds(self, arrival: datetime) -> tuple[datetime, datetime]:
        """The earliest and the latest event time accepted for a record arriving at `arrival`."""
        return self.start, arrival + self.future_tolerance

    def problem(self, timestamp: datetime, arrival: datetime) -> str | None:
        """Why `timestamp` has no partition for a record arriving at `arrival`, or None (the
        push API's wording; staging says the same in its own reason format)."""
        if timestamp < self.start:
            return (
                f"timestamp {timestamp.isoformat()} is before history_start {self.history_start}: no partition holds it"
            )
        if timestamp > arrival + self.future_tolerance:
            return f"timestamp {timestamp.isoformat()} is more than {minutes_text(self.tolerance_minutes)} minutes in the future"
        return None

    def dbt_vars(self) -> dict[str, str | float]:
        """The vars staging's range check reads (`check_event_time_range`)."""
        return {"history_start": self.history_start.isoformat(), "future_tolerance_minutes": self.tolerance_minutes}


def minutes_text(minutes: float) -> str:
    """`60.0` → `'60'`, `0.5` → `'0.5'`: how a reason shows the configured tolerance (staging's
    `check_event_time_range` writes it the same way)."""
    return str(int(minutes)) if minutes == int(minutes) else str(minutes)
