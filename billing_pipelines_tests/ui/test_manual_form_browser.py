"""Manual entry in a real browser, all the way into the canonical tables.

A person signed in with an API key (HTTP Basic: the browser's own prompt, here Playwright's
`http_credentials`) enters a customer and a usage adjustment through `/manual`; a wrong quantity
shows its error next to the field, the corrected form is saved; then the pipeline does what it
does in production: the landing sensor accepts the API's landed files and its runs load them,
and the records are in `billing.customers` and `billing.usage_events` as entered.

Debian's Chromium is required, as for test_browser.py (it fails, never skips, without it).
"""

from contextlib import contextmanager
from decimal import Decimal

import dagster as dg
import duckdb
import orjson
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from billing_pipelines.config import current_config, load_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.lib.runs import failure_messages
from billing_pipelines_tests.ingest_api.conftest import RunningApi, write_api_config
from billing_pipelines_tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, screenshot_on_failure

CUSTOMER_NAME = 'Müller & Söhne <GmbH> "Nord"'
ADJUSTMENT_TIMESTAMP = "2026-09-01T10:00:00Z"  # after history_start 2026-08-01 of the test config


@pytest.fixture
def manual_api(tmp_path):
    api = RunningApi(tmp_path, write_api_config(tmp_path)).start()
    yield api
    api.stop()


@contextmanager
def signed_in_page(key: str):
    """A fresh headless Chromium page that answers the API's sign-in prompt with `key`."""
    if not CHROMIUM.exists():
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: apt-get update && apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(http_credentials={"username": "anna", "password": key})
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield page
        finally:
            browser.close()


def enter_customer(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/manual")
    page.get_by_role("link", name="Customer").click()
    page.get_by_label("External id").fill("CUS-42")
    page.get_by_label("Name").fill(CUSTOMER_NAME)
    page.get_by_label("Country").fill("DE")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_have_text("Customer saved")
    expect(page.locator("#saved-fields")).to_contain_text(CUSTOMER_NAME)


def enter_adjustment_with_a_mistake_then_fix_it(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/manual/usage-adjustment")
    page.get_by_label("Customer external id").fill("CUS-42")
    page.get_by_label("Metric").fill("api_calls")
    page.get_by_label("Timestamp").fill(ADJUSTMENT_TIMESTAMP)
    page.get_by_label("Quantity").fill("abc")
    page.get_by_label("Note").fill("credit for the outage of 1 September")
    page.get_by_role("button", name="Save").click()

    quantity = page.get_by_label("Quantity")
    expect(quantity).to_have_value("abc")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    next_to_it = page.locator(".field", has=quantity).locator(".error")
    expect(next_to_it).to_have_text("Input should be a valid decimal")
    expect(page.locator(".error")).to_have_count(1)
    expect(page.get_by_label("Note")).to_have_value("credit for the outage of 1 September")

    quantity.fill("-250.5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_have_text("Usage adjustment saved")
    expect(page.locator("#landing-file-usage_events")).to_contain_text("usage_events/api-")


def load_landed_files(config_path, monkeypatch) -> None:
    """One landing sensor tick and the runs it requests, in process, as the daemon would launch them."""
    monkeypatch.setenv("BILLING_CONFIG", str(config_path))
    monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)
    current_config.cache_clear()
    defs, instance = build_definitions(), dg.DagsterInstance.ephemeral()
    tick = defs.resolve_sensor_def("landing_files").evaluate_tick(dg.build_sensor_context(instance=instance))
    assert {request.job_name for request in tick.run_requests} == {"landing_state_sync", "landing_usage_by_day"}
    for request in tick.run_requests:
        job = defs.resolve_job_def(request.job_name)
        result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
        assert result.success, failure_messages(result)
    current_config.cache_clear()


def test_records_entered_in_the_browser_reach_the_canonical_tables(manual_api, monkeypatch):
    key = manual_api.key("customers:write", "usage:write", name="ops-anna")
    with signed_in_page(key) as page, screenshot_on_failure(page, "manual-entry"):
        enter_customer(page, manual_api.url)
        enter_adjustment_with_a_mistake_then_fix_it(page, manual_api.url)
    manual_api.stop()  # seals the open landing files into the inbox

    load_landed_files(manual_api.config_path, monkeypatch)

    with duckdb.connect(str(load_config(manual_api.config_path).warehouse_path), read_only=True) as warehouse:
        customers = warehouse.execute(
            "SELECT customer_id, name, country, currency, source_system FROM billing.customers"
        ).fetchall()
        events = warehouse.execute(
            "SELECT event_id, customer_id, metric, quantity, event_timestamp, properties FROM billing.usage_events"
        ).fetchall()
    assert customers == [("CUS-42", CUSTOMER_NAME, "DE", "EUR", "landing")]
    [(event_id, customer_id, metric, quantity, timestamp, properties)] = events
    assert event_id.startswith("manual-")
    assert (customer_id, metric, Decimal(quantity)) == ("CUS-42", "api_calls", Decimal("-250.5"))
    assert timestamp.isoformat().startswith("2026-09-01T10:00:00")
    assert orjson.loads(properties) == {
        "adjustment": True,
        "note": "credit for the outage of 1 September",
        "entered_by": "ops-anna",
    }
