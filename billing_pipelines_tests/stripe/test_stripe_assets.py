"""The Stripe source as Dagster assets: its group and lineage, the state job, a materialization
from the stand-in into raw_stripe, and a missing key named without a secret anywhere."""

from datetime import date

import dagster as dg
import duckdb
import pytest

from billing_pipelines.defs.stripe.assets import stripe_definitions
from billing_pipelines.defs.stripe.extract import OBJECTS
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests import api_sources

KEY_ENV = "TEST_BILLING_STRIPE_KEY"
API_KEY = "sk_test_assets_0123456789abcdef"


@pytest.fixture
def stripe_config(project_config, monkeypatch):
    standin = StripeStandin(api_key=API_KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=4, accounts=40))
    monkeypatch.setenv(KEY_ENV, API_KEY)
    with standin.serving() as base_url:
        config = project_config(
            "landing: {enabled: false}\n"
            "sources:\n"
            "  payments:\n"
            "    kind: stripe\n"
            f"    base_url: {base_url}\n"
            f"    api_key_env: {KEY_ENV}\n"
            "    max_attempts: 2\n"
        )
        yield config, standin


def materialize(config) -> dg.ExecuteInProcessResult:
    return api_sources.materialize(stripe_definitions(config), config)


def test_each_object_is_a_raw_asset_fed_by_the_stripe_account_and_synced_with_the_state(stripe_config):
    api_sources.assert_raw_assets_synced_with_the_state("payments", "stripe", OBJECTS)


def test_a_materialization_loads_the_account_into_raw(stripe_config):
    config, standin = stripe_config
    assert materialize(config).success
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        customers = warehouse.execute("select count(*) from raw_payments.customers").fetchone()[0]
        subscriptions = warehouse.execute("select count(*) from raw_payments.subscriptions").fetchone()[0]
    named = {s["customer"] for s in standin._store["subscriptions"].values()}  # deleted ones too
    assert customers == sum(not c.get("deleted") or c["id"] in named for c in standin._store["customers"].values())
    assert subscriptions == len(standin._store["subscriptions"])


def test_a_missing_key_fails_the_run_naming_the_variable(stripe_config, monkeypatch):
    config, standin = stripe_config
    monkeypatch.delenv(KEY_ENV)
    result = materialize(config)
    error = api_sources.failure(result)
    assert f"payments: environment variable {KEY_ENV} is not set: it must hold the Stripe API key" in error
    assert standin.requests_to("/") == 0


def test_the_key_never_shows_in_errors_or_logs(stripe_config, caplog):
    config, standin = stripe_config
    standin.inject_faults(401, 1)
    result = materialize(config)
    error = api_sources.failure(result)
    assert "payments: GET /v1/customers failed with HTTP 401" in error
    assert API_KEY not in error and API_KEY not in caplog.text
