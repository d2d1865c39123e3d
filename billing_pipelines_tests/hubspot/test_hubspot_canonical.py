"""A HubSpot portal carried into the canonical tables on DuckDB: loaded from the stand-in by the
HubSpot source, then every dbt model and test built. Identity across systems is by explicit key
only: a company whose external-id property names the company's own customer id is the app's
customer; one without it stays a customer of its own. Deals are contracts of their billed
company's customer, their line items the contracts' items."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_pipelines.defs.hubspot.extract import TABLES, hubspot_client, hubspot_dlt_source
from billing_pipelines.lib.http_client import BearerTokenFromEnv, RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines_tests.api_sources import add_app_customers, app_customers_named_in_order, raw_pipeline
from billing_pipelines_tests.dbt.test_models import Warehouse, assert_ok

TOKEN = "pat-na1-canonical-0123456789"
TOKEN_ENV = "TEST_BILLING_HUBSPOT_CANONICAL_TOKEN"
EXTERNAL_ID = "external_customer_id"
START, END = "contract_start_date__zenskar_", "contract_end_date__zenskar_"
PERIODS = {"monthly": "P1M", "quarterly": "P3M", "annually": "P1Y"}


def load_hubspot(standin: HubSpotStandin, warehouse: Warehouse, pipelines_dir) -> None:
    """One sync of every raw table of the portal into `raw_hubspot`."""
    with standin.serving() as base_url, pytest.MonkeyPatch.context() as env:
        env.setenv(TOKEN_ENV, TOKEN)
        client = hubspot_client(base_url, BearerTokenFromEnv("hubspot", TOKEN_ENV, "token"), retry=RetryPolicy())
        pipeline = raw_pipeline("hubspot_canonical", warehouse.path, "raw_hubspot", pipelines_dir)
        pipeline.run(hubspot_dlt_source(client, list(TABLES)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The app knows two customers; HubSpot holds the whole (small) company, and a live deal of a
    company deleted since (its association gone with it); dbt builds it all."""
    root = tmp_path_factory.mktemp("hubspot_canonical")
    standin = HubSpotStandin(token=TOKEN)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=4, accounts=40))
    deleted_company = next(str(i) for i, r in standin._records["companies"].items() if r.archived_ms)
    a_deal = next(r for r in standin._records["deals"].values() if r.archived_ms is None)
    orphan = standin.add("deals", {**a_deal.properties, "dealname": "Deal of a deleted company"})
    standin.associate("deals", orphan, "companies", deleted_company)
    warehouse = Warehouse(root / "warehouse.duckdb", root)
    keyed = [
        (str(i), r)
        for i, r in standin._records["companies"].items()
        if r.properties.get(EXTERNAL_ID) and not r.archived_ms
    ]
    add_app_customers(warehouse.path, app_customers_named_in_order([r.properties[EXTERNAL_ID] for _, r in keyed[:2]]))
    load_hubspot(standin, warehouse, root / "pipelines")
    assert_ok(warehouse.dbt("build"))
    return warehouse, standin, keyed


def live(standin: HubSpotStandin, object_type: str) -> dict:
    return {str(i): r for i, r in standin._records[object_type].items() if r.archived_ms is None}


def customer_of(standin: HubSpotStandin, company_id: str) -> str:
    external_id = standin._records["companies"][int(company_id)].properties.get(EXTERNAL_ID)
    return external_id or f"hubspot-{company_id}"


def billed_company(standin: HubSpotStandin, deal_id: str) -> str | None:
    """The deal's live company, as the associations read gives it (each seeded deal has one);
    none for an archived deal, whose associations HubSpot does not serve."""
    if standin._records["deals"][int(deal_id)].archived_ms is not None:
        return None
    companies = [str(c) for c in standin._links["deals", "companies"].get(int(deal_id), [])]
    return next((c for c in companies if c in live(standin, "companies")), None)


def test_a_company_keyed_to_the_app_is_one_customer_with_both_ids(built):
    warehouse, standin, keyed = built
    company_id, company = keyed[0]
    rows = warehouse.rows(
        "select customer_id, name, currency, app_db_account_id, hubspot_company_id, source_system, is_deleted"
        " from billing.customers where customer_id = ?",
        company.properties[EXTERNAL_ID],
    )
    # the app's details (name, currency) stay: HubSpot's customers carry no date to win with
    assert rows == [(company.properties[EXTERNAL_ID], "App name 1", "EUR", "1", company_id, "app_db", False)]


def test_a_company_without_the_key_stays_its_own_customer(built):
    warehouse, standin, _ = built
    unkeyed = {i: r for i, r in live(standin, "companies").items() if not r.properties.get(EXTERNAL_ID)}
    assert unkeyed
    rows = warehouse.rows(
        "select customer_id, hubspot_company_id, source_system, name, city, postal_code from billing.customers"
        f" where hubspot_company_id in ({', '.join('?' * len(unkeyed))}) order by customer_id",
        *unkeyed,
    )
    assert rows == sorted(
        (f"hubspot-{i}", i, "hubspot", r.properties["name"], r.properties["city"], r.properties["zip"])
        for i, r in unkeyed.items()
    )


def test_every_company_is_canonical_once_and_an_archived_one_is_deleted(built):
    warehouse, standin, _ = built
    companies = standin._records["companies"]
    archived = [str(i) for i, r in companies.items() if r.archived_ms is not None]
    assert archived
    assert warehouse.rows("select count(*) from billing.customers where hubspot_company_id is not null") == [
        (len(companies),)
    ]
    assert warehouse.rows("select count(*), count(distinct customer_id) from billing.customers") == [
        (len(companies), len(companies))
    ]
    deleted = dict(
        warehouse.rows(
            "select hubspot_company_id, is_deleted from billing.customers"
            f" where hubspot_company_id in ({', '.join('?' * len(archived))})",
            *archived,
        )
    )
    assert deleted == dict.fromkeys(archived, True)


def test_deals_become_contracts_of_their_companys_customer_with_their_term(built):
    warehouse, standin, _ = built
    today = datetime.now(UTC).date()
    rows = {
        row[0]: row[1:]
        for row in warehouse.rows(
            "select hubspot_deal_id, contract_id, customer_id, status, currency, start_date, end_date, is_deleted"
            " from billing.contracts where source_system = 'hubspot'"
        )
    }
    expected = {}
    for deal_id, deal in standin._records["deals"].items():
        company = billed_company(standin, str(deal_id))
        if company is None:
            continue  # no live company: quarantined (below)
        end = deal.properties[END] and date.fromisoformat(deal.properties[END])
        status = "expired" if end and end < today else "active"  # every seeded deal is closed-won
        expected[str(deal_id)] = (
            f"hubspot-deal-{deal_id}",
            customer_of(standin, company),
            status,
            deal.properties["deal_currency_code"],
            date.fromisoformat(deal.properties[START]),
            end or None,
            deal.archived_ms is not None,
        )
    assert expected and rows == expected
    assert {"active", "expired"} <= {row[2] for row in rows.values()}


def test_a_live_deal_without_a_company_is_quarantined_and_an_archived_one_is_no_contract(built):
    warehouse, standin, _ = built
    without = {str(i) for i in standin._records["deals"] if billed_company(standin, str(i)) is None}
    orphans = {i for i in without if standin._records["deals"][int(i)].archived_ms is None}
    assert orphans  # the live deals of deleted companies lost their association
    archived = without - orphans
    assert archived  # deleted before the first sync: never seen with a company
    contracts = warehouse.rows("select hubspot_deal_id from billing.contracts where source_system = 'hubspot'")
    assert archived.isdisjoint(deal for (deal,) in contracts)
    rows = warehouse.rows(
        "select location, reason from billing.quarantine where source_system = 'hubspot' and dataset = 'contracts'"
    )
    assert sorted(rows) == sorted((f"contracts id={i}", "missing customer_id") for i in orphans)
    assert warehouse.rows("select distinct dataset from billing.quarantine where source_system = 'hubspot'") == [
        ("contracts",)
    ]  # every company and line item is valid


def test_line_items_become_the_deals_contract_items(built):
    warehouse, standin, _ = built
    deals = {str(i): r for i, r in standin._records["deals"].items() if billed_company(standin, str(i))}
    items = [
        (str(deal), str(item))
        for deal, linked in standin._links["deals", "line_items"].items()
        for item in linked
        if str(deal) in deals and standin._records["line_items"][item].archived_ms is None
    ]
    count = warehouse.rows(
        "select count(*) from billing.contract_items where contract_id like 'hubspot-deal-%'"
        " and contract_id in (select contract_id from billing.contracts)"
    )
    assert count == [(len(items),)]
    for deal_id, item_id in items[:6]:
        item, deal = standin._records["line_items"][int(item_id)].properties, deals[deal_id].properties
        rows = warehouse.rows(
            "select product_name, pricing_model, unit_amount, currency, billing_period, quantity, start_date"
            " from billing.contract_items where contract_id = ? and product_id = ?",
            f"hubspot-deal-{deal_id}",
            item["hs_product_id"],
        )
        quantity = item["quantity"] and Decimal(item["quantity"])
        assert rows == [
            (
                item["name"],
                "flat_fee" if quantity else "per_unit",
                Decimal(item["price"]),
                deal["deal_currency_code"],
                PERIODS[item["recurringbillingfrequency"]],
                quantity or None,
                date.fromisoformat(item["hs_recurring_billing_start_date"]),
            )
        ]
    models = {row[0] for row in warehouse.rows("select distinct pricing_model from billing.contract_items")}
    assert {"flat_fee", "per_unit"} <= models
