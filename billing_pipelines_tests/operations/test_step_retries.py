"""Retries at the right level: a permanent failure (a missing secret, a query on a missing table,
a refused request) fails the raw load's step once, saying what to fix; a transient one that
outlasts the request retries (connections reset) is retried by the step, which then succeeds."""

import sqlite3
from datetime import date

import dagster as dg
import pytest
import requests
from dagster_dlt import DagsterDltResource

from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.defs.stripe.assets import stripe_definitions
from billing_pipelines.lib import step_retries
from billing_pipelines.lib.http_client import SourceRequestError
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.http_standin import RESET
from billing_pipelines.sandbox.stripe_standin import StripeStandin

ATTEMPTS = 2
KEY_ENV, KEY = "OPS_TEST_STRIPE_KEY", "sk_test_ops_retries_0123456789"
pytestmark = pytest.mark.usefixtures("quick_step_retries")


def run(definitions: dg.Definitions, config, **options) -> dg.ExecuteInProcessResult:
    assets = [a for a in definitions.assets if isinstance(a, dg.AssetsDefinition)]
    resources = {"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)}
    return dg.materialize(assets, resources=resources, raise_on_error=False, **options)


def step_events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [event for event in result.all_events if event.event_type == kind]


def assert_failed_once_saying(result: dg.ExecuteInProcessResult, *words: str) -> None:
    assert not result.success
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    [failure] = result.get_step_failure_events()
    message = str(failure.event_specific_data.error)
    assert "will not be retried" in message
    for word in words:
        assert word in message


def usage_source(table: str, url: str) -> str:
    return (
        "landing: {enabled: false}\n"
        f"sources:\n  app_db:\n    kind: sql\n    {url}\n    datasets:\n"
        f"      usage_events: {{table: {table}, cursor: event_timestamp, primary_key: event_id}}\n"
    )


def test_a_missing_secret_fails_the_step_once_naming_the_variable(project_config, monkeypatch):
    monkeypatch.delenv("OPS_APP_DB_URL", raising=False)
    config = project_config(usage_source("usage", "url_env: OPS_APP_DB_URL"))

    result = run(sql_source_definitions(config), config, tags=partition_range_tags(date(2026, 9, 1), date(2026, 9, 1)))

    assert_failed_once_saying(result, "environment variable OPS_APP_DB_URL is not set")


def test_a_query_on_a_missing_table_fails_the_step_once(project_config, tmp_path):
    sqlite3.connect(tmp_path / "app.sqlite").close()
    config = project_config(usage_source("metering", "url: sqlite:///app.sqlite"))

    result = run(sql_source_definitions(config), config, tags=partition_range_tags(date(2026, 9, 1), date(2026, 9, 1)))

    assert_failed_once_saying(result, "no such table: metering")


@pytest.fixture
def stripe(project_config, monkeypatch):
    standin = StripeStandin(api_key=KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=3, accounts=5))
    monkeypatch.setenv(KEY_ENV, KEY)
    with standin.serving() as base_url:
        config = project_config(
            "landing: {enabled: false}\nsources:\n"
            f"  stripe: {{kind: stripe, base_url: '{base_url}', api_key_env: {KEY_ENV}, max_attempts: {ATTEMPTS}}}\n"
        )
        yield standin, config


def test_connection_resets_beyond_the_request_retries_are_retried_by_the_step(stripe):
    standin, config = stripe
    standin.inject_faults(RESET, ATTEMPTS, path_prefix="/v1/customers")  # every attempt of one request

    result = run(stripe_definitions(config), config)

    assert result.success
    assert len(step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    loaded = {event.asset_key.path[-1] for event in result.get_asset_materialization_events()}
    assert "customers" in loaded


def test_a_refused_request_fails_the_step_once(stripe, monkeypatch):
    _, config = stripe
    monkeypatch.setenv(KEY_ENV, "sk_test_not_the_key")

    result = run(stripe_definitions(config), config)

    assert_failed_once_saying(result, "HTTP 401")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (requests.ConnectionError("Connection aborted"), True),
        (SourceRequestError("stripe: GET /v1/events failed after 6 attempts with HTTP 503: busy"), True),
        (SourceRequestError("stripe: GET /v1/events failed with HTTP 404: no such resource"), False),
        (SourceRequestError("stripe: environment variable STRIPE_API_KEY is not set"), False),
        (sqlite3.OperationalError("no such table: metering"), False),
        (RuntimeError("reading the postgresql source failed: server closed the connection unexpectedly"), True),
        (RuntimeError('reading the postgresql source failed: relation "metering" does not exist'), False),
        (KeyError("DATABASE_URL"), False),
    ],
)
def test_what_counts_as_transient(error, transient):
    assert step_retries.is_transient(error) is transient
    wrapped = RuntimeError("Pipeline execution failed at stage extract")  # as dlt chains a source's error
    wrapped.__cause__ = error
    assert step_retries.is_transient(wrapped) is transient
