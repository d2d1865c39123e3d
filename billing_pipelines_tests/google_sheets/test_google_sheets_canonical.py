"""The billing team's Google Sheet carried into the canonical tables on DuckDB: loaded from the
stand-in by the Google Sheets source, then every dbt model and test built. Its rows are staged as
landing lines are: valid rows reach the canonical tables, a bad row is quarantined at its row of
the sheet with the reason, and a customer is the app's customer when its external_id is the
app's."""

from datetime import date
from decimal import Decimal

import pytest

from billing_pipelines.defs.google_sheets.extract import google_sheets_client, google_sheets_dlt_source
from billing_pipelines.lib.http_client import RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.google_sheets_standin import SHEET_ACCOUNT_STRIDE, GoogleSheetsStandin
from billing_pipelines_tests.api_sources import add_app_customers, raw_pipeline
from billing_pipelines_tests.dbt.test_models import Warehouse, assert_ok

SHEET = "billing-contracts"
TABS = {"customers": "customers", "contracts": "contracts", "contract_items": "contract_items"}


@pytest.fixture(scope="module")
def company():
    return app_company(date(2026, 9, 30), seed=4, accounts=60)


@pytest.fixture(scope="module")
def built(tmp_path_factory, company):
    """The sheet of the sandbox company, plus one contract item in a currency that does not
    exist; the app knows the sheet's first two customers (the first row has no updated_at, so the
    app's record wins; the app's copy of the second is older than the sheet's row); dbt builds it all."""
    root = tmp_path_factory.mktemp("google_sheets_canonical")
    standin = GoogleSheetsStandin()
    standin.seed_from_sandbox(SHEET, *company)
    tabs = standin._spreadsheets[SHEET].tabs
    items = tabs["contract_items"].rows
    bad = [*items[1][:5], "XYZ", *items[1][6:]]  # a copy of the first item, in an unknown currency
    standin.set_tab(SHEET, "contract_items", [*items, bad])
    first, second = tabs["customers"].rows[1:3]
    warehouse = Warehouse(root / "warehouse.duckdb", root)
    add_app_customers(
        warehouse.path,
        [(7, first[0], "App name", "2026-09-01 00:00:00"), (8, second[0], "App name", "2020-01-01 00:00:00")],
    )
    with standin.serving() as base_url:
        client = google_sheets_client(standin.service_account_info(base_url), base_url, RetryPolicy(attempts=3))
        pipeline = raw_pipeline("google_sheets_canonical", warehouse.path, "raw_google_sheets", root / "pipelines")
        pipeline.run(google_sheets_dlt_source(client, SHEET, TABS))
    assert_ok(warehouse.dbt("build"))
    return warehouse, {tab: t.rows for tab, t in tabs.items()}, len(items) + 1


def test_the_sheets_customers_are_canonical_customers(built, company):
    warehouse, rows, _ = built
    accounts, _, _ = company
    in_sheet = [a for a in accounts[SHEET_ACCOUNT_STRIDE - 1 :: SHEET_ACCOUNT_STRIDE] if a.deleted_at is None]
    assert [r[0] for r in rows["customers"][1:]] == [a.profile.external_id for a in in_sheet]
    loaded = warehouse.rows(
        "select customer_id, name, email, currency, tax_ids, city from billing.customers"
        " where source_system = 'google_sheets' order by customer_id"
    )
    # every sheet customer but the first, whose dated app record wins
    assert loaded == sorted(
        (p.external_id, p.name, p.email, p.currency, f'["{p.tax_id}"]' if p.tax_id else "[]", p.city)
        for p in (a.profile for a in in_sheet[1:])
    )


def test_a_sheet_customer_with_the_apps_external_id_is_the_apps_customer(built):
    warehouse, rows, _ = built
    first, second = rows["customers"][1:3]
    found = warehouse.rows(
        "select customer_id, app_db_account_id, source_system, name, email from billing.customers"
        " where customer_id in (?, ?) order by app_db_account_id",
        first[0],
        second[0],
    )
    assert found == [
        (first[0], "7", "app_db", "App name", None),  # the sheet's row has no updated_at: the app's wins
        (second[0], "8", "google_sheets", second[1], second[2]),  # the sheet's row is newer
    ]


def test_the_sheets_contracts_and_items_are_canonical(built, company):
    warehouse, rows, _ = built
    contracts = rows["contracts"][1:]
    loaded = dict(
        (row[0], row[1:])
        for row in warehouse.rows(
            "select contract_id, customer_id, status, currency, start_date, end_date, source_system"
            " from billing.contracts where source_system = 'google_sheets'"
        )
    )
    assert loaded == {r[0]: (r[1], r[3], r[4], r[5], r[6], "google_sheets") for r in contracts}
    items = rows["contract_items"][1:-1]  # all but the bad row
    assert warehouse.rows(
        "select count(*) from billing.contract_items where contract_id in"
        " (select contract_id from billing.contracts where source_system = 'google_sheets')"
    ) == [(len(items),)]
    item = items[0]
    assert warehouse.rows(
        "select product_name, pricing_model, unit_amount, currency, billing_period from billing.contract_items"
        " where contract_id = ? and product_id = ?",
        item[0],
        item[1],
    ) == [(item[2], item[3], Decimal(str(item[4])), item[5], item[6])]


def test_a_bad_row_is_quarantined_at_its_row_of_the_sheet(built):
    warehouse, _, bad_line = built
    assert warehouse.rows(
        "select dataset, location, reason from billing.quarantine where source_system = 'google_sheets'"
    ) == [("contract_items", f"{SHEET}/contract_items:{bad_line}", "invalid currency: 'XYZ'")]
