"""The alerting sensors end to end: a real failed materialization of this project and a stale
canonical table reach every configured notifier (Slack, signed webhook, e-mail, all on loopback)
exactly once, with the asset, the run or asset link, and no secret."""

import json
import types
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from billing_pipelines.config import current_config, parse_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.alerts.sensors import (
    CHECK_FAILURE_SENSOR,
    FRESHNESS_SENSOR,
    RUN_FAILURE_SENSOR,
    alert_sensors,
)
from billing_pipelines_tests.alerts.conftest import SECRETS, SLACK_TOKEN, SOURCE_PASSWORD, WEBHOOK_SECRET
from billing_pipelines_tests.alerts.receivers import SlackReceiver, SmtpReceiver, WebhookReceiver

UI = "http://dagster.test:3000"
RAW_USAGE = dg.AssetKey(["raw_app_db", "usage_events"])


def billing_yaml(slack: SlackReceiver, webhook: WebhookReceiver, smtp: SmtpReceiver) -> str:
    """A project whose app database lacks the usage table (its load fails), plus a second
    source whose URL, with a password, is in the environment."""
    return f"""\
history_start: "2026-08-01"
warehouse: {{path: warehouse.duckdb}}
landing: {{enabled: false}}
alerts:
  ui_base_url: {UI}
  max_attempts: 2
  backoff_seconds: 0.01
  notifiers:
    ops_slack: {{kind: slack, channel: "#billing-ops", base_url: "{slack.base_url}"}}
    ops_webhook: {{kind: webhook, url: "{webhook.url}"}}
    ops_email:
      kind: email
      host: 127.0.0.1
      port: {smtp.port}
      starttls: false
      from: billing-alerts@example.com
      to: ops@example.com
sources:
  app_db:
    kind: sql
    url: sqlite:///app.sqlite
    datasets:
      usage_events:
        query: |
          SELECT id AS event_id, account AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM usage_records
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
  crm_db:
    kind: sql
    url_env: CRM_DB_URL
    datasets:
      customers: {{table: accounts, cursor: updated_at, primary_key: id}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """This project's definitions for that billing.yaml, with the receivers listening and every
    variable it reads set (BILLING_CONFIG, no BILLING_WAREHOUSE override, the secrets)."""
    folder = tmp_path_factory.mktemp("alerts_project")
    with (
        SlackReceiver(SLACK_TOKEN) as slack,
        WebhookReceiver(WEBHOOK_SECRET) as webhook,
        SmtpReceiver() as smtp,
        pytest.MonkeyPatch.context() as env,
    ):
        (folder / "billing.yaml").write_text(billing_yaml(slack, webhook, smtp))
        env.setenv("BILLING_CONFIG", str(folder / "billing.yaml"))
        env.delenv("BILLING_WAREHOUSE", raising=False)
        env.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
        env.setenv("BILLING_ALERT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        env.setenv("CRM_DB_URL", f"postgresql://crm:{SOURCE_PASSWORD}@crm.internal:5432/crm")
        current_config.cache_clear()
        config = current_config()
        yield types.SimpleNamespace(
            config=config, defs=build_definitions(), slack=slack, webhook=webhook, smtp=smtp, folder=folder
        )
    current_config.cache_clear()


@pytest.fixture
def receivers(project):
    """The receivers, emptied for this test."""
    for receiver in (project.slack, project.webhook, project.smtp):
        receiver.reset()
    return project


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


TICK_LOGS: list[str] = []
"""What every tick logged (the text the UI shows under the sensor's tick), this module's tests."""


def tick(sensor: dg.SensorDefinition, instance, cursor=None, repository_def=None) -> str | None:
    """One evaluation as the daemon makes it (its log captured in the instance under a log key
    of its own, kept in TICK_LOGS); returns the new cursor."""
    log_key = ["alerts_test", sensor.name, uuid.uuid4().hex]
    context = dg.SensorEvaluationContext(
        instance_ref=instance.get_ref(),
        instance=instance,
        cursor=cursor,
        log_key=log_key,
        sensor_name=sensor.name,
        repository_def=repository_def,
    )
    with context:
        result = sensor.evaluate_tick(context)
    TICK_LOGS.append((instance.compute_log_manager.get_log_data(log_key).stderr or b"").decode())
    return result.cursor


def sensor_named(sensors, name: str) -> dg.SensorDefinition:
    return next(sensor for sensor in sensors if sensor.name == name)


def delivered(project) -> list[str]:
    """Every body that reached a receiver, raw (Slack text, webhook JSON, the e-mail's bytes)."""
    return (
        [message["text"] for message in project.slack.messages]
        + [body.decode() for _, body in project.webhook.deliveries]
        + [envelope.content.decode() for envelope in project.smtp.inbox.envelopes]
    )


def test_the_project_defines_the_alert_sensors_running(project):
    dg.Definitions.validate_loadable(project.defs)
    sensors = {sensor.name: sensor for sensor in project.defs.sensors}
    for name in (RUN_FAILURE_SENSOR, CHECK_FAILURE_SENSOR, FRESHNESS_SENSOR):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING


def test_a_failed_materialization_alerts_once_per_notifier_without_secrets(receivers, instance):
    project = receivers
    sensor = sensor_named(project.defs.sensors, RUN_FAILURE_SENSOR)
    cursor = tick(sensor, instance)  # the first tick only marks where the sensor starts

    result = project.defs.resolve_job_def("__ASSET_JOB").execute_in_process(
        instance=instance, asset_selection=[RAW_USAGE], partition_key="2026-09-01", raise_on_error=False
    )
    assert not result.success
    run_id = result.dagster_run.run_id
    TICK_LOGS.clear()
    cursor = tick(sensor, instance, cursor)
    tick(sensor, instance, cursor)  # nothing new: no second alert

    assert len(project.slack.messages) == len(project.webhook.payloads) == len(project.smtp.messages) == 1
    link = f"{UI}/runs/{run_id}"
    slack_text = project.slack.messages[0]["text"]
    assert "__ASSET_JOB" in slack_text and "raw_app_db/usage_events" in slack_text and link in slack_text
    assert "no such table: usage_records" in slack_text and "Partitions: 2026-09-01" in slack_text
    data = project.webhook.payloads[0]["data"]
    assert data["failed_assets"] == ["raw_app_db/usage_events"] and data["link"] == link
    assert data["partitions"] == "2026-09-01" and data["run_id"] == run_id
    mail = project.smtp.messages[0]
    assert mail["Subject"] == "Billing run failed: asset materialization (2026-09-01)"
    assert "raw_app_db/usage_events" in mail.get_content() and link in mail.get_content()
    tick_log = "\n".join(TICK_LOGS)
    assert "sent to ops_slack (slack)" in tick_log and "sent to ops_email (email)" in tick_log
    for text in [*delivered(project), tick_log]:
        for secret in SECRETS:
            assert secret not in text


def test_a_backfill_range_failure_names_the_range(receivers, instance):
    project = receivers
    sensor = sensor_named(project.defs.sensors, RUN_FAILURE_SENSOR)
    cursor = tick(sensor, instance)
    project.defs.resolve_job_def("usage_by_day").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2026-09-01", "dagster/asset_partition_range_end": "2026-09-30"},
        raise_on_error=False,
    )
    tick(sensor, instance, cursor)

    [payload] = project.webhook.payloads
    assert payload["data"]["job"] == "usage_by_day" and payload["data"]["partitions"] == "2026-09-01…2026-09-30"
    # the load failed, so neither it nor any model downstream of it was written
    assert "raw_app_db/usage_events" in payload["data"]["failed_assets"]
    assert "billing/usage_events" in payload["data"]["failed_assets"]


@dg.asset(key=["checks_demo", "contracts"])
def demo_contracts() -> int:
    return 3


@dg.asset_check(asset=demo_contracts)
def contracts_have_a_customer() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="3 without a customer")


@dg.asset_check(asset=demo_contracts)
def contracts_have_a_name() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="1 unnamed")


@dg.asset(key=["checks_demo", "breaks"])
def breaks() -> None:
    raise RuntimeError("the source went away")


def test_a_failed_error_check_alerts_once_whether_or_not_its_run_failed(receivers, instance):
    project = receivers
    sensors = alert_sensors(project.config)
    runs, checks = sensor_named(sensors, RUN_FAILURE_SENSOR), sensor_named(sensors, CHECK_FAILURE_SENSOR)
    run_cursor, check_cursor = tick(runs, instance), tick(checks, instance)

    succeeded = dg.materialize([demo_contracts, contracts_have_a_customer, contracts_have_a_name], instance=instance)
    failed = dg.materialize(
        [demo_contracts, contracts_have_a_customer, breaks], instance=instance, raise_on_error=False
    )
    assert succeeded.success and not failed.success
    tick(runs, instance, run_cursor)
    tick(checks, instance, check_cursor)

    # two alerts per notifier: the successful run's failed check, and the failed run (naming its check)
    assert len(project.slack.messages) == len(project.webhook.payloads) == len(project.smtp.messages) == 2
    by_event = {payload["type"]: payload["data"] for payload in project.webhook.payloads}
    assert by_event["billing.check_failed"]["run_id"] == succeeded.dagster_run.run_id
    assert by_event["billing.check_failed"]["failed_checks"] == [
        {"asset": "checks_demo/contracts", "check": "contracts_have_a_customer", "found": "3 without a customer"}
    ]
    assert by_event["billing.run_failed"]["run_id"] == failed.dagster_run.run_id
    assert by_event["billing.run_failed"]["failed_checks"] == ["checks_demo/contracts: contracts_have_a_customer"]
    assert by_event["billing.run_failed"]["failed_assets"] == ["checks_demo/breaks"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_stale_canonical_table_alerts_once_then_once_more_when_it_recovers(receivers, instance):
    project = receivers
    clock = Clock()
    sensor = sensor_named(alert_sensors(project.config, clock=clock), FRESHNESS_SENSOR)
    repository = project.defs.get_repository_def()
    customers = dg.AssetKey(["billing", "customers"])
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=customers))

    cursor = tick(sensor, instance, repository_def=repository)  # just materialized: fresh, silent
    assert project.webhook.payloads == [] and json.loads(cursor) == {}

    clock.now += timedelta(hours=27)  # freshness_hours defaults to 26
    cursor = tick(sensor, instance, repository_def=repository)
    cursor = tick(sensor, instance, cursor, repository_def=repository)  # still stale: no second alert
    assert len(project.slack.messages) == len(project.webhook.payloads) == len(project.smtp.messages) == 1
    stale = project.webhook.payloads[0]
    assert stale["type"] == "billing.asset_stale" and stale["data"]["asset"] == "billing/customers"
    assert stale["data"]["link"] == f"{UI}/assets/billing/customers"
    assert "Stale since:" in project.slack.messages[0]["text"]
    assert project.smtp.messages[0]["Subject"] == "Billing table stale: billing/customers"
    assert list(json.loads(cursor)) == ["billing/customers"]

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=customers))
    clock.now = datetime.now(UTC) + timedelta(minutes=1)
    cursor = tick(sensor, instance, cursor, repository_def=repository)

    assert len(project.webhook.payloads) == len(project.slack.messages) == len(project.smtp.messages) == 2
    recovered = project.webhook.payloads[1]
    assert recovered["type"] == "billing.asset_recovered" and recovered["data"]["asset"] == "billing/customers"
    assert recovered["data"]["was_stale_since"] == stale["data"]["stale_since"]
    assert json.loads(cursor) == {}


def test_the_freshness_sensor_watches_the_canonical_tables_and_marts_only(project):
    from billing_pipelines.defs.alerts.sensors import freshness_windows

    windows = freshness_windows(project.defs.resolve_asset_graph())
    assert windows and {key.path[0] for key in windows} == {"billing"}
    assert dg.AssetKey(["billing", "billable_usage_daily"]) in windows
    assert set(windows.values()) == {timedelta(hours=26)}


def test_no_notifier_means_no_alert_sensor():
    config = parse_config('history_start: "2026-08-01"\nalerts:\n  ui_base_url: http://ui:3000\n')
    assert alert_sensors(config) == []


def test_a_notifier_that_is_down_is_logged_and_the_sensor_carries_on(receivers, instance):
    project = receivers
    sensor = sensor_named(alert_sensors(project.config), RUN_FAILURE_SENSOR)
    cursor = tick(sensor, instance)
    first = dg.materialize([breaks], instance=instance, raise_on_error=False)
    second = dg.materialize([breaks], instance=instance, raise_on_error=False)
    project.slack.fail_next(503, times=2)  # max_attempts is 2: the first alert never reaches Slack
    TICK_LOGS.clear()

    cursor = tick(sensor, instance, cursor)

    assert cursor is not None
    runs = [payload["data"]["run_id"] for payload in project.webhook.payloads]
    assert runs == [first.dagster_run.run_id, second.dagster_run.run_id] and len(project.smtp.messages) == 2
    assert len(project.slack.messages) == 1 and second.dagster_run.run_id in project.slack.messages[0]["text"]
    assert "NOT delivered to ops_slack (slack) after 2 tries: Slack answered HTTP 503" in "\n".join(TICK_LOGS)
