"""The webhook sensor: a source that reported changes gets one incremental sync per tick, keyed
by its change marker, so a storm of webhooks never becomes a storm of runs."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from billing_pipelines.config import current_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.source_webhooks import WEBHOOK_SENSOR, change_run_key, webhook_sync_job_name
from billing_pipelines.lib.source_changes import record_change

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def webhook_definitions(tmp_path_factory):
    """The project's definitions for a config with a Stripe source receiving webhooks, a HubSpot
    source that does not, and nothing else."""
    root = tmp_path_factory.mktemp("webhooks")
    config_path = root / "billing.yaml"
    config_path.write_text(
        'history_start: "2026-08-01"\n'
        "warehouse: {path: warehouse.duckdb}\n"
        "sources:\n"
        "  stripe: {kind: stripe, webhook_secret_env: TEST_BILLING_STRIPE_WEBHOOK_SECRET}\n"
        "  hubspot: {kind: hubspot}\n"
    )
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("BILLING_CONFIG", str(config_path))
        environment.delenv("BILLING_WAREHOUSE", raising=False)
        current_config.cache_clear()
        defs = build_definitions()
        config = current_config()
        current_config.cache_clear()
    return defs, config


@pytest.fixture
def landing(webhook_definitions):
    """The landing zone of the config, with no change recorded yet."""
    _, config = webhook_definitions
    for path in (config.landing_path / ".source_changes").glob("*"):
        path.unlink()
    return config.landing_path


def tick(defs: dg.Definitions, cursor: str | None = None, instance: dg.DagsterInstance | None = None):
    sensor = defs.resolve_sensor_def(WEBHOOK_SENSOR)
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance or dg.DagsterInstance.ephemeral(), definitions=defs
    )
    return sensor.evaluate_tick(context)


def change(landing, event_id: str, at: datetime):
    return record_change(landing, "stripe", "stripe", [{"id": event_id, "type": "customer.updated"}], at)


def test_only_sources_with_a_webhook_secret_get_a_sync_job_of_their_own_raw_tables(webhook_definitions):
    defs, _ = webhook_definitions
    job = defs.resolve_job_def(webhook_sync_job_name("stripe"))
    selected = job.asset_layer.selected_asset_keys
    assert dg.AssetKey(["raw_stripe", "customers"]) in selected
    assert dg.AssetKey(["billing", "customers"]) in selected  # and the canonical model downstream
    assert not any(key.path[0] == "raw_hubspot" for key in selected)
    with pytest.raises(dg.DagsterInvariantViolationError):
        defs.resolve_job_def(webhook_sync_job_name("hubspot"))
    sensor = defs.resolve_sensor_def(WEBHOOK_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.minimum_interval_seconds == 30


def test_a_change_requests_one_sync_with_a_key_stable_across_ticks(webhook_definitions, landing):
    defs, _ = webhook_definitions
    marker = change(landing, "evt_1", NOW)

    first = tick(defs)
    [request] = first.run_requests
    assert request.job_name == "stripe_webhook_sync"
    assert request.run_key == change_run_key(marker) == f"stripe:1@{NOW.isoformat()}"
    assert tick(defs).run_requests[0].run_key == request.run_key  # same marker, same key

    second = tick(defs, cursor=first.cursor)
    assert second.run_requests == [] and "no source reported a change" in second.skip_message


def test_a_storm_of_changes_between_ticks_requests_one_sync_with_a_new_key(webhook_definitions, landing):
    defs, _ = webhook_definitions
    change(landing, "evt_1", NOW)
    first = tick(defs)
    for number in range(2, 12):
        latest = change(landing, f"evt_{number}", NOW + timedelta(seconds=number))

    [request] = tick(defs, cursor=first.cursor).run_requests
    assert request.run_key == change_run_key(latest) == f"stripe:11@{latest.last_change_at.isoformat()}"
    assert request.run_key != first.run_requests[0].run_key


def test_no_change_recorded_skips(webhook_definitions, landing):
    defs, _ = webhook_definitions
    result = tick(defs)
    assert result.run_requests == [] and "no source reported a change" in result.skip_message


def test_a_change_during_an_unfinished_sync_waits_for_it_to_finish(webhook_definitions, landing):
    defs, _ = webhook_definitions
    first_change = change(landing, "evt_1", NOW)
    with dg.instance_for_test() as instance:
        running = instance.add_run(
            dg.DagsterRun(job_name="stripe_webhook_sync", run_id="a" * 32, status=dg.DagsterRunStatus.STARTED)
        )
        waiting = tick(defs, instance=instance)
        assert waiting.run_requests == [] and "stripe changed while a sync is unfinished" in waiting.skip_message
        assert waiting.cursor is None  # the change is still to be synced

        instance.report_run_canceled(running)
        [request] = tick(defs, instance=instance).run_requests
    assert request.run_key == change_run_key(first_change)
