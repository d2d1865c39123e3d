"""The pure pieces of alerting: what an alert says, which days a run covered, the innermost
error's first lines, secret scrubbing, freshness transitions, retry notes."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from billing_pipelines.defs.alerts.messages import (
    MAX_ERROR_LINES,
    MAX_LISTED,
    REDACTED,
    CheckFailure,
    Freshness,
    RunFailure,
    Scrubber,
    check_failure_alert,
    error_lines,
    listed,
    partitions_of,
    retry_note,
    run_failure_alert,
    stale_alert,
)
from billing_pipelines.defs.alerts.notifiers import message_id, secret_values, slack_text, webhook_payload
from billing_pipelines.defs.alerts.sensors import freshness_transitions, unwritten_assets

UI = "http://127.0.0.1:3000"
T0 = datetime(2026, 11, 27, 21, 5, tzinfo=UTC)
DAY = timedelta(hours=26)


def test_partitions_of_a_range_a_single_day_and_a_state_run():
    range_tags = {
        "dagster/asset_partition_range_start": "2026-09-01",
        "dagster/asset_partition_range_end": "2026-09-30",
    }
    assert partitions_of(range_tags) == "2026-09-01…2026-09-30"
    one_day_range = {**range_tags, "dagster/asset_partition_range_end": "2026-09-01"}
    assert partitions_of(one_day_range) == "2026-09-01"
    assert partitions_of({"dagster/partition": "2026-09-02"}) == "2026-09-02"
    assert partitions_of({}) is None


def test_error_lines_keep_the_first_lines_of_each_step():
    long = "x" * 500
    lines = error_lines(
        [("app_db_usage", f"SourceReadError: no such table\n  detail\n{long}\nmore\nand more\nthe end")]
    )
    assert lines[0] == "app_db_usage: SourceReadError: no such table"
    assert lines[1] == "    detail"  # continuation lines indented under their step
    assert len(lines) == MAX_ERROR_LINES + 1 and lines[-1] == "…"
    assert len(lines[2]) == 300 and lines[2].endswith("…")
    assert error_lines([("", "")]) == ["(no message)"]


def test_listed_names_at_most_ten():
    names = [f"billing/t{i}" for i in range(MAX_LISTED + 3)]
    assert listed(names).endswith("billing/t9 and 3 more")


def test_run_failure_alert_names_job_assets_days_error_and_link():
    failure = RunFailure(
        job="billing_sync",
        run_id="r-1",
        failed_assets=("billing/usage_events", "raw_app_db/usage_events"),
        partitions="2026-09-01…2026-09-30",
        errors=(("app_db_usage", "no such table: usage_records"),),
    )
    alert = run_failure_alert(failure, UI)
    assert alert.title == "Billing run failed: billing_sync (2026-09-01…2026-09-30)"
    assert "Not materialized: billing/usage_events, raw_app_db/usage_events" in alert.lines
    assert "  app_db_usage: no such table: usage_records" in alert.lines
    assert alert.link == f"{UI}/runs/r-1" and alert.text.endswith(f"Open in Dagster: {UI}/runs/r-1")
    assert alert.facts["failed_assets"] == ["billing/usage_events", "raw_app_db/usage_events"]


def test_a_run_with_no_step_error_still_says_so():
    alert = run_failure_alert(RunFailure("state_sync", "r-2", (), None, ()), UI)
    assert alert.title == "Billing run failed: state_sync"
    assert "  (Dagster recorded no step error)" in alert.lines


def test_check_failure_alert_lists_each_check_and_its_finding():
    failure = CheckFailure("billing_sync", "r-3", (("billing/contracts", "not_null_contract_id", "2 failing rows"),))
    alert = check_failure_alert(failure, UI)
    assert alert.title == "Billing data check failed: billing/contracts: not_null_contract_id"
    assert "  billing/contracts: not_null_contract_id: 2 failing rows" in alert.lines


def test_retry_note_says_what_dagster_does_next():
    assert retry_note("true", None, "2") == "Dagster retries this run automatically (retry 1 of 2)."
    assert retry_note("true", "1", "2") == "Dagster retries this run automatically (retry 2 of 2)."
    assert retry_note("false", "2", "2") == "No more automatic retries: this was retry 2."
    assert retry_note(None, None, None) is None


def test_scrubber_replaces_the_whole_url_before_the_password_inside_it():
    url = "postgresql://billing:pw-1234@db/app"
    scrub = Scrubber(secret_values(["APP_DB_URL"], {"APP_DB_URL": url}))
    assert scrub(f"failed: {url}") == f"failed: {REDACTED}"
    assert scrub("login pw-1234 refused") == f"login {REDACTED} refused"
    assert scrub.data({"error": [f"at {url}"], "n": 3}) == {"error": [f"at {REDACTED}"], "n": 3}


def test_secret_values_cover_encoded_passwords_dbt_copies_and_skip_trivial_values():
    environ = {
        "APP_DB_URL": "postgresql://u:p%40ss-word@db/app",
        "DBT_ENV_SECRET_PASSWORD": "dbt-secret-99",
        "SHORT": "ab",
        "UNRELATED": "not-a-secret",
    }
    values = secret_values(["APP_DB_URL", "SHORT", "MISSING"], environ)
    assert values == {"postgresql://u:p%40ss-word@db/app", "p%40ss-word", "p@ss-word", "dbt-secret-99"}


def test_slack_text_escapes_control_characters_and_links_the_run():
    alert = run_failure_alert(RunFailure("j", "r", (), None, (("s", "a < b & c"),)), UI)
    text = slack_text(alert)
    assert "a &lt; b &amp; c" in text and text.endswith(f"<{UI}/runs/r|Open in Dagster>")


def test_webhook_payload_and_a_stable_message_id():
    alert = stale_alert(Freshness("billing/customers", T0, DAY), UI)
    payload = webhook_payload(alert, T0)
    assert payload["type"] == "billing.asset_stale" and payload["data"]["asset"] == "billing/customers"
    assert payload["data"]["stale_since"] == (T0 + DAY).isoformat()
    assert message_id(alert) == message_id(stale_alert(Freshness("billing/customers", T0, DAY), UI))
    assert message_id(alert) != message_id(stale_alert(Freshness("billing/customers", T0 + DAY, DAY), UI))


def test_unwritten_assets_are_planned_minus_materialized():
    planned = [dg.AssetKey(["raw_app_db", "usage_events"]), dg.AssetKey(["billing", "usage_events"])]
    assert unwritten_assets(planned, planned[:1]) == ["billing/usage_events"]


def test_freshness_transitions_alert_once_per_change():
    fresh = {"billing/customers": Freshness("billing/customers", T0, DAY)}
    alerted, changes = freshness_transitions({}, fresh, T0 + timedelta(hours=1))
    assert alerted == {} and changes == []

    alerted, changes = freshness_transitions({}, fresh, T0 + timedelta(hours=27))
    assert alerted == {"billing/customers": (T0 + DAY).isoformat()}
    assert [(kind, f.asset) for kind, f, _ in changes] == [("stale", "billing/customers")]

    again, changes = freshness_transitions(alerted, fresh, T0 + timedelta(hours=40))
    assert again == alerted and changes == []

    updated = {"billing/customers": Freshness("billing/customers", T0 + timedelta(hours=41), DAY)}
    alerted, changes = freshness_transitions(again, updated, T0 + timedelta(hours=42))
    assert alerted == {} and [(kind, since) for kind, _, since in changes] == [("recovered", T0 + DAY)]


def test_a_table_never_materialized_is_not_stale_and_a_removed_one_is_forgotten():
    alerted, changes = freshness_transitions({"billing/old_mart": T0.isoformat()}, {}, T0 + timedelta(days=9))
    assert alerted == {} and changes == []
