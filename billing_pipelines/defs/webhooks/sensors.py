"""The ingestion-event sensors: upload outcomes after landing runs, and failed syncs.

- `landing_upload_outcomes` (whenever the landing zone is enabled): after each successful
  `landing_usage_by_day` / `landing_state_sync` run, writes the outcome of every file the run
  completed (defs/webhooks/outcomes.py: what the push API's `GET /v1/uploads/{id}` answers) and
  sends `upload.processed` and `events.quarantined` to the receivers subscribed to them. Its
  cursor is the last run-success event handled plus the usage days files still wait for; it is
  moved past a run only once that run's outcomes are written. While another process writes the
  DuckDB warehouse (one writer at a time, and a reader must wait too), the tick is skipped
  without moving the cursor, and the next tick takes the run again.
- `sync_failed_webhooks` (when a receiver subscribes to `sync.failed`): one event per failed run
  of any job of this code location, with the facts the run-failure alert names (defs/alerts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from billing_pipelines.config import BillingConfig
from billing_pipelines.defs.alerts.messages import PARTITION_TAG, run_failure_summary
from billing_pipelines.defs.alerts.notifiers import scrubber_for
from billing_pipelines.defs.alerts.sensors import run_failure_facts
from billing_pipelines.defs.landing.archive import LandedFile
from billing_pipelines.defs.landing.sensors import LANDING_STATE_JOB, LANDING_USAGE_JOB
from billing_pipelines.defs.webhooks.deliveries import SYNC_FAILED, Receiver, deliver, subscribed
from billing_pipelines.defs.webhooks.events import sync_failed_event, upload_events
from billing_pipelines.defs.webhooks.outcomes import LandingRun, carried_files, days_left, outcomes_of, write_outcome
from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from billing_pipelines.lib.signed_webhooks import RetryPolicy
from billing_pipelines.lib.warehouse import Warehouse, warehouse_for

OUTCOMES_SENSOR = "landing_upload_outcomes"
SYNC_FAILED_SENSOR = "sync_failed_webhooks"
LANDING_JOBS = (LANDING_USAGE_JOB, LANDING_STATE_JOB)
RUNS_PER_TICK = 10
"""Landing runs handled per evaluation at most (each costs a few warehouse queries and its
deliveries); the rest wait for the next tick."""
SUCCESSES_PER_FETCH = 200


@dataclass(frozen=True)
class OutcomeCursor:
    """Where the outcome sensor is: the storage id of the last run-success event it handled,
    and per usage file carried so far by only some of its runs, the days still to be loaded."""

    after: int
    waiting: dict[str, list[date]] = field(default_factory=dict)

    def to_json(self) -> str:
        waiting = {digest: [day.isoformat() for day in days] for digest, days in sorted(self.waiting.items())}
        return json.dumps({"after": self.after, "waiting": waiting})

    @classmethod
    def from_json(cls, text: str) -> OutcomeCursor:
        data = json.loads(text)
        waiting = {digest: [date.fromisoformat(day) for day in days] for digest, days in data["waiting"].items()}
        return cls(int(data["after"]), waiting)


def run_days(tags: dict[str, str]) -> tuple[date, date] | None:
    """The usage days a run covered, from its partition tags (None: an unpartitioned run)."""
    start, end = tags.get(PARTITION_RANGE_START), tags.get(PARTITION_RANGE_END)
    if not (start and end):
        start = end = tags.get(PARTITION_TAG)
    return (date.fromisoformat(start), date.fromisoformat(end)) if start and end else None


def _moment(timestamp: float | None, fallback: datetime) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else fallback


def landing_run(record: dg.RunRecord) -> LandingRun:
    """A finished landing run's record as the outcomes need it."""
    run = record.dagster_run
    started = _moment(record.start_time, record.create_timestamp)
    return LandingRun(run.run_id, started, _moment(record.end_time, record.update_timestamp), run_days(run.tags))


def finished_files(
    files: Sequence[LandedFile], run: LandingRun, waiting: dict[str, list[date]], history_start: date
) -> tuple[list[LandedFile], dict[str, list[date]]]:
    """The files `run` completed, and the days other files still wait for after it: a usage
    file is complete when every one of its days has been loaded; any other file at once."""
    finished, still = [], dict(waiting)
    for landed in files:
        left = days_left(landed, waiting.get(landed.digest), run, history_start) if run.days else []
        still.pop(landed.digest, None)
        if left:
            still[landed.digest] = left
        else:
            finished.append(landed)
    return finished, still


def landing_successes(instance: dg.DagsterInstance, after: int) -> Iterator[tuple[int, dg.RunRecord | None]]:
    """(storage id, run record) of the run-success events after `after`, oldest first; the
    record is None for a run that is not a landing run."""
    events = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(dg.DagsterEventType.RUN_SUCCESS, after_storage_id=after),
        limit=SUCCESSES_PER_FETCH,
        ascending=True,
    ).records
    run_ids = list({event.event_log_entry.run_id for event in events})
    records = (
        {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=run_ids))} if run_ids else {}
    )
    for event in events:
        record = records.get(event.event_log_entry.run_id)
        yield event.storage_id, record if record and record.dagster_run.job_name in LANDING_JOBS else None


def latest_success(instance: dg.DagsterInstance) -> int:
    """The storage id of the newest run-success event (-1: none yet): where a new sensor starts."""
    newest = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_SUCCESS, limit=1).records
    return newest[0].storage_id if newest else -1


def outcome_line(record: dict) -> str:
    """An outcome as the sensor's log says it: `usage_events/meter.csv: 4 loaded, 1 quarantined`."""
    where = f"{record['dataset']}/{record['file_name']}"
    if record["reason"] is not None:
        return f"{where}: rejected: {record['reason']}"
    return f"{where}: {record['loaded']} loaded, {record['quarantined']} quarantined (run {record['run_id']})"


def warehouse_busy(error: duckdb.Error) -> bool:
    """DuckDB refusing a read-only connection while another process holds the file for writing."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


@dataclass(frozen=True)
class OutcomeSender:
    """What the outcome sensor needs: the configuration (landing zone, history start, secrets to
    scrub), the warehouse, and the receivers of upload events with their retry policy."""

    config: BillingConfig
    warehouse: Warehouse
    receivers: Sequence[Receiver]
    policy: RetryPolicy

    def complete(self, run: LandingRun, cursor: OutcomeCursor, storage_id: int, log) -> tuple[OutcomeCursor, int]:
        """Write the outcomes of the files `run` completed, send their events; returns the cursor
        past the run and how many outcomes were written. Raises duckdb.Error from the warehouse
        before anything is written."""
        root = self.config.landing_path
        finished, waiting = finished_files(carried_files(root, run), run, cursor.waiting, self.config.history_start)
        outcomes = outcomes_of(self.warehouse, finished, run)
        for record in outcomes:
            write_outcome(root, record)
            log.info(outcome_line(record))
        events = [event for record in outcomes for event in upload_events(record)]
        deliver(self.receivers, events, self.policy, scrubber_for(self.config), log)
        return OutcomeCursor(storage_id, waiting), len(outcomes)


def outcomes_sensor(sender: OutcomeSender) -> dg.SensorDefinition:
    @dg.sensor(
        name=OUTCOMES_SENSOR,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each successful landing run: writes what became of every file it carried "
        "(landing/outcomes/<digest>.json, read by the push API) and sends upload.processed and "
        "events.quarantined to the subscribed webhooks.",
    )
    def landing_upload_outcomes(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        if context.cursor is None:
            start = OutcomeCursor(latest_success(context.instance))
            return dg.SensorResult(skip_reason="starting after the latest finished run", cursor=start.to_json())
        cursor = OutcomeCursor.from_json(context.cursor)
        runs = written = 0
        for storage_id, record in landing_successes(context.instance, cursor.after):
            if record is None:
                cursor = OutcomeCursor(storage_id, cursor.waiting)
                continue
            if runs == RUNS_PER_TICK:
                break
            try:
                cursor, count = sender.complete(landing_run(record), cursor, storage_id, context.log)
            except duckdb.Error as error:
                if not warehouse_busy(error):
                    raise
                run_id = record.dagster_run.run_id
                busy = f"the warehouse is being written by another process: run {run_id} waits for the next tick"
                return dg.SensorResult(skip_reason=busy, cursor=cursor.to_json())
            runs, written = runs + 1, written + count
        waiting = f"; {len(cursor.waiting)} usage files wait for more days" if cursor.waiting else ""
        return dg.SensorResult(
            skip_reason=f"{written} outcomes written from {runs} landing runs{waiting}", cursor=cursor.to_json()
        )

    return landing_upload_outcomes


def sync_failed_sensor(
    config: BillingConfig, receivers: Sequence[Receiver], policy: RetryPolicy
) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=SYNC_FAILED_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Sends sync.failed to the subscribed webhooks for each failed run of any job: the job, "
        "the assets it left unwritten, its days and the innermost error.",
    )
    def sync_failed_webhooks(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        facts = run_failure_facts(context.instance, run, context.get_step_failure_events(), context.failure_event)
        record = context.instance.get_run_record_by_id(run.run_id)
        failed_at = _moment(record.end_time if record else None, datetime.now(UTC))
        event = sync_failed_event(run_failure_summary(facts, config.alerts.ui_base_url), failed_at)
        deliver(receivers, [event], policy, scrubber_for(config), context.log)

    return sync_failed_webhooks


def webhook_sensors(config: BillingConfig, receivers: Sequence[Receiver], policy: RetryPolicy) -> list:
    """The outcome sensor whenever the landing zone is enabled (the push API reads its files,
    subscribed or not), and the failed-sync sensor when a receiver wants `sync.failed`."""
    sensors = []
    if config.landing.enabled:
        sensors.append(outcomes_sensor(OutcomeSender(config, warehouse_for(config), receivers, policy)))
    if subscribed(receivers, SYNC_FAILED):
        sensors.append(sync_failed_sensor(config, receivers, policy))
    return sensors
