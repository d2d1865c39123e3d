"""The Google Sheets source as Dagster assets: one raw asset per configured tab in the source's
group, lineage and the state job, a materialization from the stand-in into raw_<source>, and a
missing or unparsable key variable named, the key itself never in errors or logs."""

import json
from datetime import date

import dagster as dg
import duckdb
import pytest

from billing_pipelines.defs.google_sheets.assets import google_sheets_definitions
from billing_pipelines.defs.google_sheets.extract import QUOTA_RETRY, google_sheets_api_client, sheets_retry
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.google_sheets_standin import GoogleSheetsStandin
from billing_pipelines_tests import api_sources

KEY_ENV = "TEST_BILLING_SHEETS_KEY"
SHEET = "billing-sheet"
TABS = {"customers": "Customers", "contracts": "Contracts"}


@pytest.fixture
def sheets_config(project_config, monkeypatch):
    standin = GoogleSheetsStandin()
    standin.seed_from_sandbox(SHEET, *app_company(date(2026, 9, 30), seed=4, accounts=60))
    with standin.lock:  # the team named its tabs its own way
        tabs = standin._spreadsheets[SHEET].tabs
        tabs["Customers"], tabs["Contracts"] = tabs.pop("customers"), tabs.pop("contracts")
    with standin.serving() as base_url:
        key_file = standin.service_account_info(base_url)
        monkeypatch.setenv(KEY_ENV, json.dumps(key_file))
        config = project_config(
            "landing: {enabled: false}\n"
            "sources:\n"
            "  google_sheets:\n"
            "    kind: google_sheets\n"
            f"    base_url: {base_url}\n"
            f"    spreadsheet_id: {SHEET}\n"
            f"    credentials_env: {KEY_ENV}\n"
            "    tabs: {customers: Customers, contracts: Contracts}\n"
        )
        yield config, standin, key_file


def materialize(config) -> dg.ExecuteInProcessResult:
    return api_sources.materialize(google_sheets_definitions(config), config)


failure = api_sources.failure


def test_each_configured_tab_is_a_raw_asset_fed_by_the_sheet_and_synced_with_the_state(sheets_config):
    graph = api_sources.assert_raw_assets_synced_with_the_state("google_sheets", "google_sheets", TABS)
    for dataset in TABS:
        raw = graph.get(dg.AssetKey(["raw_google_sheets", dataset]))
        assert any(key.path[-1] == f"stg_google_sheets__{dataset}" for key in raw.child_keys)
    assert not graph.has(dg.AssetKey(["google_sheets", "contract_items"]))  # no tab configured


def test_a_materialization_loads_each_tab_into_raw(sheets_config):
    config, standin, _ = sheets_config
    assert materialize(config).success
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        for dataset, tab in TABS.items():
            rows = warehouse.execute(f"select count(*), min(_file) from raw_google_sheets.{dataset}").fetchone()
            assert rows == (len(standin._spreadsheets[SHEET].tabs[tab].rows) - 1, f"{SHEET}/{tab}")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "is not set: it must hold the service-account key JSON"),
        ("{not json", "does not hold a service-account key JSON: not JSON (line 1, column 2)"),
        ('{"client_email": "x@example.com"}', "does not hold a service-account key JSON: no private_key, token_uri"),
    ],
)
def test_a_missing_or_unparsable_key_fails_the_run_naming_the_variable(sheets_config, monkeypatch, value, says):
    config, standin, _ = sheets_config
    if value is None:
        monkeypatch.delenv(KEY_ENV)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    assert f"google_sheets: environment variable {KEY_ENV} {says}" in failure(materialize(config))
    assert standin.requests_to("/") == 0


def test_a_key_that_cannot_be_read_is_named_without_quoting_it(sheets_config, monkeypatch, caplog):
    config, standin, key_file = sheets_config
    broken = {**key_file, "private_key": key_file["private_key"].replace("A", "B", 40)}
    monkeypatch.setenv(KEY_ENV, json.dumps(broken))
    error = failure(materialize(config))
    assert f"environment variable {KEY_ENV} holds a service-account key whose private_key cannot be read" in error
    for key in (key_file["private_key"], broken["private_key"]):
        line = key.splitlines()[1]
        assert line not in error and line not in caplog.text


def test_the_key_never_shows_in_errors_or_logs(sheets_config, caplog):
    config, standin, key_file = sheets_config
    standin.inject_faults(403, 1, path_prefix="/v4/")
    error = failure(materialize(config))
    assert f"google_sheets: GET /v4/spreadsheets/{SHEET}/values/" in error and "HTTP 403" in error
    line = key_file["private_key"].splitlines()[1]
    assert line not in error and line not in caplog.text


def test_the_quota_patient_retry_is_kept_and_more_attempts_are_honoured(sheets_config):
    config, _, _ = sheets_config
    assert google_sheets_api_client("google_sheets", config.sources["google_sheets"]).retry == QUOTA_RETRY
    assert sheets_retry(2) == QUOTA_RETRY  # fewer attempts would give up inside the quota's minute
    assert sheets_retry(12).attempts == 12 and sheets_retry(12).max_delay_seconds == QUOTA_RETRY.max_delay_seconds
