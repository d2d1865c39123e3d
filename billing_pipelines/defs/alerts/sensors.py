"""The alerting sensors: a failed run, a failed ERROR check, a stale canonical table.

- `billing_run_failure_alerts` (a run-failure sensor over every job of this code location, the
  UI's ad-hoc asset runs included): one alert per failed run, naming the assets it left
  unwritten, its days, the ERROR checks that failed in it and the innermost error.
- `billing_check_failure_alerts` (a run-status sensor on successful runs): one alert per run
  that succeeded although an ERROR-severity check failed in it. Dedupe by construction: a run
  ends either failed or succeeded, never both, so a check that failed inside a failed run is
  reported once, in that run's failure alert, and never again here.
- `billing_freshness_alerts`: one alert when a canonical table or mart passes its freshness
  policy's fail window, one more when it is updated again; its cursor holds the tables currently
  alerted, so each transition is said once.

Dagster keeps both run sensors' cursors (the last run status event handled), so a daemon restart
neither repeats nor loses an alert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy
from dagster._core.storage.tags import MAX_RETRIES_TAG, RETRY_NUMBER_TAG, WILL_RETRY_TAG

from billing_pipelines.config import BillingConfig
from billing_pipelines.defs.alerts.messages import (
    Alert,
    CheckFailure,
    Freshness,
    RunFailure,
    Scrubber,
    check_failure_alert,
    partitions_of,
    recovered_alert,
    retry_note,
    run_failure_alert,
    stale_alert,
)
from billing_pipelines.defs.alerts.notifiers import Notifier, RetryPolicy, notifiers_from, scrubber_for, send_alert
from billing_pipelines.lib.runs import root_cause

RUN_FAILURE_SENSOR = "billing_run_failure_alerts"
CHECK_FAILURE_SENSOR = "billing_check_failure_alerts"
FRESHNESS_SENSOR = "billing_freshness_alerts"
FRESHNESS_INTERVAL_SECONDS = 300
FAILED_ROW_COUNT = "dagster_dbt/failed_row_count"

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AlertSender:
    """The configured notifiers, how they retry, the UI's address for links, and the secrets
    to scrub (read from the environment when an alert is sent)."""

    notifiers: Sequence[Notifier]
    policy: RetryPolicy
    ui_base_url: str
    scrubber: Callable[[], Scrubber]

    def send(self, alert: Alert, log) -> list:
        return send_alert(self.notifiers, alert, self.policy, self.scrubber(), log)


def _events(instance: dg.DagsterInstance, run_id: str, *types: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [entry.dagster_event for entry in instance.all_logs(run_id, of_type=set(types)) if entry.dagster_event]


def unwritten_assets(planned: Iterable[dg.AssetKey], materialized: Iterable[dg.AssetKey]) -> list[str]:
    """The assets a run was meant to materialize and did not, as `schema/table` names."""
    done = set(materialized)
    return sorted({key.to_user_string() for key in planned if key not in done})


def check_finding(evaluation) -> str:
    """What a failed check found, for the alert: its description, else dbt's failing-row count."""
    if evaluation.description:
        return evaluation.description
    count = evaluation.metadata.get(FAILED_ROW_COUNT)
    return f"{count.value} failing rows" if count is not None else ""


def failed_error_checks(evaluations: Iterable) -> list[tuple[str, str, str]]:
    """(asset, check, finding) of each ERROR-severity check evaluation that did not pass."""
    return [
        (evaluation.asset_key.to_user_string(), evaluation.check_name, check_finding(evaluation))
        for evaluation in evaluations
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    ]


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    return [
        event.event_specific_data for event in _events(instance, run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]


def run_failure_facts(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: Sequence[dg.DagsterEvent],
    failure_event: dg.DagsterEvent | None,
) -> RunFailure:
    """The facts of a failed run, from its events and tags in the instance."""
    events = _events(
        instance,
        run.run_id,
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
    )
    planned = [e.event_specific_data.asset_key for e in events if e.is_asset_materialization_planned]
    materialized = [e.asset_key for e in events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]
    if not planned and run.asset_selection:  # failed before planning (e.g. could not launch)
        planned = list(run.asset_selection)
    errors = [
        (event.step_key or "", root_cause(event.event_specific_data.error).message)
        for event in step_failures
        if event.event_specific_data is not None and event.event_specific_data.error is not None
    ]
    if not errors and failure_event is not None:
        error = getattr(failure_event.event_specific_data, "error", None)
        errors = [("", root_cause(error).message if error is not None else failure_event.message or "")]
    checks = failed_error_checks(_check_evaluations(instance, run.run_id))
    return RunFailure(
        job=run.job_name,
        run_id=run.run_id,
        failed_assets=tuple(unwritten_assets(planned, materialized)),
        partitions=partitions_of(run.tags),
        errors=tuple(errors),
        failed_checks=tuple(f"{asset}: {check}" for asset, check, _ in checks),
        retry=retry_note(run.tags.get(WILL_RETRY_TAG), run.tags.get(RETRY_NUMBER_TAG), run.tags.get(MAX_RETRIES_TAG)),
    )


def run_failure_sensor(sender: AlertSender) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="One alert per failed run of any job of this code location (UI asset runs included): "
        "the job, the assets it left unwritten, its days, the innermost error and a link to the run.",
    )
    def billing_run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
        facts = run_failure_facts(
            context.instance, context.dagster_run, context.get_step_failure_events(), context.failure_event
        )
        sender.send(run_failure_alert(facts, sender.ui_base_url), context.log)

    return billing_run_failure_alerts


def check_failure_sensor(sender: AlertSender) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=CHECK_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="One alert per successful run in which an ERROR-severity check failed "
        "(a failed run's checks are in its failure alert).",
    )
    def billing_check_failure_alerts(context: dg.RunStatusSensorContext) -> None:
        run = context.dagster_run
        checks = failed_error_checks(_check_evaluations(context.instance, run.run_id))
        if checks:
            failure = CheckFailure(run.job_name, run.run_id, tuple(checks), partitions_of(run.tags))
            sender.send(check_failure_alert(failure, sender.ui_base_url), context.log)

    return billing_check_failure_alerts


def freshness_windows(asset_graph) -> dict[dg.AssetKey, timedelta]:
    """The assets with a time-window freshness policy (the canonical tables and marts, see
    defs/dbt/translator.py) and how long each may go without an update."""
    return {
        node.key: node.freshness_policy.fail_window.to_timedelta()
        for node in asset_graph.asset_nodes
        if isinstance(node.freshness_policy, TimeWindowFreshnessPolicy)
    }


def freshness_transitions(
    alerted: Mapping[str, str], observed: Mapping[str, Freshness], now: datetime
) -> tuple[dict[str, str], list[tuple[str, Freshness, datetime | None]]]:
    """What changed since the last evaluation.

    `alerted` maps each asset currently reported stale to when it became stale (ISO time);
    `observed` holds every monitored asset that has been materialized at least once (one never
    materialized has no freshness yet: a fresh deployment is not an incident). Returns the new
    `alerted` and the transitions: ("stale", freshness, None) or ("recovered", freshness, since).
    """
    transitions: list[tuple[str, Freshness, datetime | None]] = []
    still: dict[str, str] = {}
    for asset in sorted(observed):
        freshness = observed[asset]
        stale, was = freshness.is_stale(now), alerted.get(asset)
        if stale:
            still[asset] = was or freshness.stale_since.isoformat()
            if was is None:
                transitions.append(("stale", freshness, None))
        elif was is not None:
            transitions.append(("recovered", freshness, datetime.fromisoformat(was)))
    return still, transitions


def observed_freshness(instance: dg.DagsterInstance, windows: Mapping[dg.AssetKey, timedelta]) -> dict[str, Freshness]:
    """Each monitored asset's last materialization (any partition) against its window."""
    observed = {}
    for record in instance.get_asset_records(list(windows)) if windows else ():
        last = record.asset_entry.last_materialization_record
        if last is not None:
            key = record.asset_entry.asset_key
            observed[key.to_user_string()] = Freshness(
                asset=key.to_user_string(),
                last_update=datetime.fromtimestamp(last.timestamp, UTC),
                fail_window=windows[key],
            )
    return observed


def freshness_sensor(sender: AlertSender, clock: Clock = _now) -> dg.SensorDefinition:
    @dg.sensor(
        name=FRESHNESS_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=FRESHNESS_INTERVAL_SECONDS,
        description="One alert when a canonical table or mart misses its freshness policy (no update within "
        "schedules.freshness_hours), one more when it is updated again.",
    )
    def billing_freshness_alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        windows = freshness_windows(context.repository_def.asset_graph)
        observed = observed_freshness(context.instance, windows)
        alerted, transitions = freshness_transitions(json.loads(context.cursor or "{}"), observed, clock())
        for change, freshness, since in transitions:
            alert = (
                stale_alert(freshness, sender.ui_base_url)
                if change == "stale"
                else recovered_alert(freshness, since, sender.ui_base_url)
            )
            sender.send(alert, context.log)
        context.update_cursor(json.dumps(alerted, sort_keys=True))
        stale = ", ".join(alerted) or "none"
        return dg.SkipReason(f"{len(windows)} tables watched; stale now: {stale}")

    return billing_freshness_alerts


def alert_sensors(config: BillingConfig, clock: Clock = _now) -> list[dg.SensorDefinition]:
    """The three alerting sensors for `alerts:`, or none when no notifier is enabled (the
    shipped demo sends nothing)."""
    notifiers = notifiers_from(config.alerts)
    if not notifiers:
        return []
    sender = AlertSender(
        notifiers=notifiers,
        policy=RetryPolicy.from_config(config.alerts),
        ui_base_url=config.alerts.ui_base_url,
        scrubber=lambda: scrubber_for(config),
    )
    return [run_failure_sensor(sender), check_failure_sensor(sender), freshness_sensor(sender, clock)]
