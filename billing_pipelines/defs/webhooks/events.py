"""The ingestion events a subscriber can hear about, built from outcomes and failed runs.

- `upload.processed`: one per landed file once a landing run has carried it (or it was rejected
  whole); its data is the file's outcome record (defs/webhooks/outcomes.py).
- `events.quarantined`: one per file with quarantined rows; the same outcome record, whose
  `quarantine_reasons` and `row_errors` say what to fix.
- `sync.failed`: one per failed run of any job: the job, the run, the assets it left unwritten,
  its days and the first lines of its innermost errors (secrets scrubbed before sending).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from billing_pipelines.defs.webhooks.deliveries import EVENTS_QUARANTINED, SYNC_FAILED, UPLOAD_PROCESSED, WebhookEvent


def upload_events(outcome: Mapping[str, object]) -> list[WebhookEvent]:
    """`upload.processed` for a file's outcome, and `events.quarantined` when rows of it were."""
    occurred_at = datetime.fromisoformat(str(outcome["processed_at"]))
    digest = str(outcome["digest"])
    events = [WebhookEvent(UPLOAD_PROCESSED, digest, occurred_at, outcome)]
    if outcome["quarantined"]:
        events.append(WebhookEvent(EVENTS_QUARANTINED, digest, occurred_at, outcome))
    return events


def sync_failed_event(summary: Mapping[str, object], failed_at: datetime) -> WebhookEvent:
    """`sync.failed` for a failed run's summary (`run_failure_summary` of defs/alerts)."""
    return WebhookEvent(SYNC_FAILED, str(summary["run_id"]), failed_at, summary)
