"""A SaaS sync that runs out of retries (the requests', then the step's), through the real state
job (raw loads, then the dbt step), as a schedule tick or the UI would run it: the run fails
naming the source, the endpoint and the status, the canonical tables stay as the last good sync
left them, and the next sync, once the API answers again, carries the change that was waiting."""

from datetime import date

import dagster as dg
import pytest

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import STATE_JOB
from billing_pipelines.lib import step_retries
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.api_sources import query

KEY_ENV, KEY = "TEST_SAAS_FAILURE_STRIPE_KEY", "sk_test_saas_failure_0123456789"
ATTEMPTS = 2
pytestmark = pytest.mark.usefixtures("quick_step_retries")
CANONICAL = {
    "customers": "select customer_id, name, is_deleted from billing.customers order by 1",
    "contracts": "select contract_id, customer_id, status from billing.contracts order by 1",
    "contract_items": "select contract_id, product_id, unit_amount from billing.contract_items order by 1, 2, 3",
}


@pytest.fixture
def stripe_sync(project_config, monkeypatch):
    """A Stripe account synced once into the canonical tables; yields (stand-in, run)."""
    standin = StripeStandin(api_key=KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=6, accounts=20))
    monkeypatch.setenv(KEY_ENV, KEY)
    with standin.serving() as base_url:
        project_config(
            "landing: {enabled: false}\n"
            "sources:\n"
            f"  stripe: {{kind: stripe, base_url: '{base_url}', api_key_env: {KEY_ENV}, max_attempts: {ATTEMPTS}}}\n"
        )
        defs, instance = build_definitions(), dg.DagsterInstance.ephemeral()

        def run() -> dg.ExecuteInProcessResult:
            return run_days(defs, STATE_JOB, None, None, instance)

        first = run()
        assert first.success, failure_messages(first)
        yield standin, run


def canonical(config) -> dict[str, list[tuple]]:
    return {table: query(config, sql) for table, sql in CANONICAL.items()}


def test_exhausted_retries_fail_the_run_and_leave_the_canonical_tables_as_they_were(stripe_sync, project_config):
    from billing_pipelines.config import current_config

    standin, run = stripe_sync
    config = current_config()
    before = canonical(config)
    customer = next(c for c in standin.objects("customers") if not c.get("deleted"))
    standin.advance(60)
    standin.update_customer(customer["id"], name="Renamed While Stripe Was Down Ltd")
    step_attempts = 1 + step_retries.RAW_LOAD_RETRY.max_retries
    standin.inject_faults(500, ATTEMPTS * step_attempts, path_prefix="/v1/events")  # every try of every step attempt

    failed = run()

    assert not failed.success
    assert "stripe: GET /v1/events failed after 2 attempts with HTTP 500" in failure_messages(failed)
    assert not any(
        e.step_key == "dbt_models" for e in failed.get_step_success_events()
    )  # never built on a partial load
    assert canonical(config) == before

    recovered = run()

    assert recovered.success, failure_messages(recovered)
    names = {name for _, name, _ in canonical(config)["customers"]}
    assert "Renamed While Stripe Was Down Ltd" in names
