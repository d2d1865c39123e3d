"""No secret leaks: every secret of the deployment (`conftest.canary_secrets`) is used by runs
that succeed and runs that fail, by alerts and webhooks and by the push API, and then appears in
none of their outputs: the Dagster instance (event log with failure messages and stack traces,
run tags and config, materialization metadata, compute logs, sensor tick logs), what the UI's
GraphQL answers, dbt's log and target folders, dlt's working folders and state, the landing
zone, the warehouse's tables, the alerts and webhooks received, the API's answers and its log.

Each search is shown able to find: the secrets did reach the places they belong (the upstream
login, the receivers verifying signatures), and the search finds a canary written on purpose.
"""

from __future__ import annotations

import base64
import json
import pickle
import sqlite3

import dagster as dg
import duckdb
import pytest
import requests
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._serdes import serialize_value
from dagster_graphql.test.utils import execute_dagster_graphql
from dlt.pipeline.state_sync import decompress_state

from billing_pipelines.lib.http_client import failure_message
from billing_pipelines.lib.redaction import REDACTED, redact, sent_credentials
from billing_pipelines_tests.security.canaries import (
    MARKER,
    assert_none_found,
    files_under,
    needles,
    search_bytes,
    search_files,
    search_text,
)


@pytest.fixture(scope="module")
def wanted(world):
    return needles(world.secrets)


# -- the search itself, and that the secrets were in effect ------------------------------------


def test_the_search_finds_a_canary_however_it_was_written(tmp_path):
    secret = f"pw/{MARKER}:1 +x"
    wanted = needles({"secret": secret})
    (tmp_path / "plain.log").write_text(f"connecting with {secret}\n")
    (tmp_path / "quoted.txt").write_text("postgresql://u:pw%2FLEAK-CANARY%3A1%20%2Bx@db/app")
    (tmp_path / "escaped.json").write_text(json.dumps({"error": f"bad key {secret}"}))
    (tmp_path / "state.pickle").write_bytes(pickle.dumps({"config": {"password": secret}}))
    with sqlite3.connect(tmp_path / "events.db") as connection:
        connection.execute("create table event_logs (event text)")
        connection.execute("insert into event_logs values (?)", (f"failed: {secret}",))
    (tmp_path / "clean.txt").write_text("nothing to see")

    found = search_files(files_under(tmp_path), wanted)

    assert {f.where.rsplit("/", 1)[1] for f in found} == {
        "plain.log",
        "quoted.txt",
        "escaped.json",
        "state.pickle",
        "events.db",
    }
    assert search_text("an answer", "nothing to see", wanted) == []


def test_every_secret_was_in_effect_where_it_belongs(world, wanted):
    """The runs and sensors really used the canaries, so finding none elsewhere means something."""
    assert world.succeeded.success and not world.sources_failed.success and not world.dbt_failed.success
    # The Slack stand-in accepts only its token; the webhook receivers verify their signing secrets.
    assert world.slack.messages and world.alert_hook.payloads and world.outbound.payloads
    assert world.secrets["alert_url_token"] in world.config.alerts.notifiers["ops_webhook"].url
    # The Snowflake login carried the password, the key files signed in at the token endpoint.
    refused = b"\n".join(world.refused_bodies)
    assert {f.canary for f in search_bytes("the refusing upstream", refused, wanted)} >= {"snowflake_password"}
    assert refused.count(b"grant_type") >= 2  # BigQuery's and Google Sheets' signed assertions
    # The API's webhooks verified with the configured secrets, and refused forgeries.
    answers = world.answers
    assert answers["stripe webhook signed"].status_code == answers["hubspot webhook signed"].status_code == 200
    assert answers["stripe webhook forged"].status_code == answers["hubspot webhook forged"].status_code == 401
    assert answers["usage accepted"].status_code == 202 and answers["usage with a wrong key"].status_code == 401
    # The app database's rows came through the URL holding the canary password.
    with duckdb.connect(str(world.config.warehouse_path), read_only=True) as warehouse:
        assert warehouse.execute("select external_id from raw_app_db.customers").fetchall() == [("SEC-2",)]
        # Stripe's stand-in serves only the configured key.
        assert warehouse.execute("select name from raw_stripe.customers").fetchall() == [("Stripe Customer Ltd",)]


# -- the Dagster instance and what the UI shows -----------------------------------------------------


def test_no_secret_in_the_event_log_run_tags_or_run_config(world, wanted):
    instance = world.instance
    runs = instance.get_runs()
    assert len(runs) == 3
    found, failures, logged = [], 0, []
    for run in runs:
        found += search_text(f"run {run.run_id} tags and config", serialize_value(run), wanted)
        for entry in instance.all_logs(run.run_id):
            where = f"run {run.run_id} event {entry.dagster_event_type}"
            logged.append(serialize_value(entry))
            found += search_text(where, logged[-1], wanted)
            if entry.dagster_event_type == dg.DagsterEventType.STEP_FAILURE:
                failures += 1
                error = entry.dagster_event.event_specific_data.error
                found += search_text(f"{where} stack", error.to_string(), wanted)
    assert failures >= 7  # every failed source and the dbt step, with their messages and stack traces
    # Stripe's refusal quoted the key; the event log has the refusal, the key blanked out.
    assert "Invalid API Key provided: [redacted]" in "".join(logged)
    assert_none_found(found)


def test_no_secret_in_materialization_metadata(world, wanted):
    records = world.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["billing", "customers"])), limit=10
    ).records
    assert records, "the successful run materialized billing/customers"
    found = []
    for key in world.instance.get_asset_keys():
        for record in world.instance.fetch_materializations(key, limit=100).records:
            metadata = record.asset_materialization.metadata
            found += search_text(f"{key.to_user_string()} metadata", serialize_value(metadata), wanted)
    assert_none_found(found)


def test_no_secret_in_any_file_of_the_dagster_home(world, wanted):
    """The instance's SQLite storage, compute logs (captured stdout/stderr), tick logs."""
    files = list(files_under(world.home))
    names = {path.name for path in files}
    assert "runs.db" in names and any(name.endswith(".err") for name in names), sorted(names)
    assert_none_found(search_files(files, wanted))


def test_no_secret_in_what_the_ui_shows(world, wanted):
    """The Dagster webserver's GraphQL over the same instance: runs with their tags and config,
    each run's event log with error messages and stacks, assets with their metadata."""
    code = world.root / "ui_definitions.py"  # the code location as `dagster dev` loads it, for this config
    code.write_text("from billing_pipelines.definitions import build_definitions\n\ndefs = build_definitions()\n")
    origin = LoadableTargetOrigin(python_file=str(code), attribute="defs", working_directory=str(world.root))
    with in_process_test_workspace(world.instance, origin) as context:
        runs = execute_dagster_graphql(context, RUNS_QUERY).data["runsOrError"]["results"]
        assert len(runs) == 3
        pages = [json.dumps(runs)]
        for run in runs:
            logs = execute_dagster_graphql(context, LOGS_QUERY, {"runId": run["runId"]}).data
            pages.append(json.dumps(logs))
        assets = execute_dagster_graphql(context, ASSETS_QUERY).data
        pages.append(json.dumps(assets))
    shown = "\n".join(pages)
    assert "stripe: GET /v1/" in shown and "failed with HTTP 401" in shown  # the failures are on show
    assert "preview" in shown
    assert_none_found(search_text("the UI's GraphQL answers", shown, wanted))


RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId status jobName runConfigYaml tags { key value } } } } }
"""
LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ExecutionStepFailureEvent { error { message stack causes { message stack } } }
        ... on RunFailureEvent { error { message stack } }
        ... on MaterializationEvent { metadataEntries { label description ... on MarkdownMetadataEntry { mdStr }
                                                                           ... on JsonMetadataEntry { jsonString }
                                                                           ... on TextMetadataEntry { text } } }
      }
    }
  }
}
"""
ASSETS_QUERY = """
{ assetNodes { assetKey { path } description metadataEntries { label ... on TextMetadataEntry { text } }
    assetMaterializations(limit: 5) { metadataEntries { label ... on MarkdownMetadataEntry { mdStr }
                                                         ... on JsonMetadataEntry { jsonString } } } } }
"""


# -- dbt, dlt, the landing zone and the warehouse --------------------------------------------------


def test_no_secret_in_dbt_logs_or_target_folders(world, wanted):
    files = list(files_under(*world.dbt_targets))
    names = {path.name for path in files}
    assert {"run_results.json", "manifest.json", "dbt.log"} <= names, sorted(names)
    assert_none_found(search_files(files, wanted))


def test_no_secret_in_the_warehouse_landing_zone_dlt_folders_or_api_state(world, wanted):
    """Every file the project wrote beside billing.yaml (billing.yaml names variables only)."""
    written = files_under(world.root, world.warehouse_folder, skip=[world.config_path])
    files = [path for path in written if world.home not in path.parents]
    names = {part for path in files for part in path.parts}
    assert {"warehouse.duckdb", ".dlt_pipelines", "landing", "api_state", "archive"} <= names, sorted(names)
    assert_none_found(search_files(files, wanted))


def test_no_secret_in_any_warehouse_table_or_dlt_state(world, wanted):
    """Read through SQL too: DuckDB compresses what it stores, and dlt keeps its state zipped."""
    found = []
    with duckdb.connect(str(world.config.warehouse_path), read_only=True) as warehouse:
        tables = warehouse.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'warehouse'"
        ).fetchall()
        assert ("billing", "customers") in tables and ("raw_app_db", "_dlt_pipeline_state") in tables
        for schema, table in tables:
            rows = warehouse.execute(f'select * from "{schema}"."{table}"').fetchall()
            found += search_text(f"{schema}.{table}", repr(rows), wanted)
            if table == "_dlt_pipeline_state":
                for (state,) in warehouse.execute(f'select state from "{schema}"."{table}"').fetchall():
                    found += search_text(
                        f"{schema}.{table} (unzipped)", json.dumps(decompress_state(state), default=str), wanted
                    )
    assert_none_found(found)


# -- alerts, webhooks, the push API ------------------------------------------------------------------


def test_no_secret_in_the_alerts_and_webhooks_sent_or_the_sensor_logs(world, wanted):
    slack = "\n".join(json.dumps(message) for message in world.slack.messages)
    assert "stripe: GET /v1/" in slack  # the failure whose API quoted its key was alerted
    bodies = [body for _, body in world.alert_hook.deliveries + world.outbound.deliveries]
    assert any(b"sync.failed" in body for body in bodies)
    headers = [
        json.dumps({k: v for k, v in headers.items()})
        for headers, _ in world.alert_hook.deliveries + world.outbound.deliveries
    ]
    found = search_text("Slack messages", slack, wanted)
    found += [f for body in bodies for f in search_bytes("a webhook body", body, wanted)]
    found += [f for text in headers for f in search_text("a webhook's headers", text, wanted)]
    found += [f for log in world.tick_logs for f in search_text("a sensor tick's log", log, wanted)]
    assert "NOT delivered to ops_email" in "\n".join(world.tick_logs)  # the SMTP login was tried and logged
    assert_none_found(found)


def test_no_secret_in_the_api_answers_or_its_log(world, wanted):
    found = []
    for label, answer in world.answers.items():
        found += search_text(f"API answer '{label}'", answer.text + json.dumps(dict(answer.headers)), wanted)
    log = (world.root / "api.log").read_text(errors="replace")
    assert "Started server process" in log
    found += search_text("the API's stdout/stderr", log, wanted)
    assert_none_found(found)


# -- the fix: an API that quotes back the key it was sent --------------------------------------------


def refusal(status: int, body: str, authorization: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.request = requests.Request(
        "GET", "https://api.example/v1/x", headers={"Authorization": authorization}
    ).prepare()
    return response


@pytest.mark.parametrize(
    ("authorization", "key"),
    [
        ("Bearer sk_live_0123456789abcdef", "sk_live_0123456789abcdef"),
        ("Basic " + base64.b64encode(b"sk_live_0123456789abcdef:").decode(), "sk_live_0123456789abcdef"),
        ("Basic " + base64.b64encode(b"loader:s3cr3t-pass").decode(), "s3cr3t-pass"),
    ],
    ids=["bearer", "stripe basic", "user and password"],
)
def test_a_refusal_quoting_the_sent_key_is_quoted_without_it(authorization, key):
    body = json.dumps({"error": {"message": f"Invalid API Key provided: {key}"}})
    message = failure_message("stripe", "GET", "/v1/x", refusal(401, body, authorization), 3)
    assert key not in message and authorization not in message
    assert message.startswith("stripe: GET /v1/x failed with HTTP 401: ") and f"provided: {REDACTED}" in message


def test_a_long_refusal_is_cut_after_the_key_is_blanked_so_no_part_of_it_shows():
    key = "sk_live_" + "k" * 64
    body = "x" * 290 + key  # a cut at 300 characters would show the key's first part
    message = failure_message("stripe", "GET", "/v1/x", refusal(400, body, f"Bearer {key}"), 3)
    assert "sk_live_" not in message


def test_redaction_blanks_the_longest_secret_first_and_keeps_short_values():
    assert redact("url u:pass1234@h, pass1234", {"u:pass1234@h", "pass1234"}) == f"url {REDACTED}, {REDACTED}"
    assert redact("on a day", {"a"}) == "on a day"  # too short to be a secret: ordinary words stay
    assert sent_credentials({"Authorization": "Bearer tok-123456"}) == {"Bearer tok-123456", "tok-123456"}
    assert sent_credentials({}) == set() and sent_credentials(None) == set()
