"""A Stripe account carried into the canonical tables on DuckDB: loaded from the stand-in by the
Stripe source, then every dbt model and test built. Identity across systems is by explicit key
only: a Stripe customer whose metadata names the company's id is the app's customer; one
without it stays a customer of its own."""

from datetime import date
from decimal import Decimal

import pytest

from billing_pipelines.defs.stripe.extract import stripe_dlt_source
from billing_pipelines.lib.http_client import ApiClient, RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.api_sources import add_app_customers, app_customers_named_in_order, raw_pipeline
from billing_pipelines_tests.dbt.test_models import Warehouse, assert_ok

API_KEY = "sk_test_canonical_0123456789"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The app knows two customers; Stripe holds the whole (small) company; dbt builds it all."""
    root = tmp_path_factory.mktemp("stripe_canonical")
    standin = StripeStandin(api_key=API_KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=4, accounts=40))
    warehouse = Warehouse(root / "warehouse.duckdb", root)
    keyed = [c for c in standin._store["customers"].values() if c["metadata"].get("external_id")]
    add_app_customers(warehouse.path, app_customers_named_in_order([c["metadata"]["external_id"] for c in keyed[:2]]))
    with standin.serving() as base_url:
        client = ApiClient("stripe", base_url, headers={"Authorization": f"Bearer {API_KEY}"}, retry=RetryPolicy())
        pipeline = raw_pipeline("stripe_canonical", warehouse.path, "raw_stripe", root / "pipelines")
        pipeline.run(
            stripe_dlt_source(client, ["customers", "products", "prices", "subscriptions", "subscription_items"])
        )
    assert_ok(warehouse.dbt("build"))
    return warehouse, standin._store, keyed


def test_a_stripe_customer_keyed_to_the_app_is_one_customer_with_both_ids(built):
    warehouse, store, keyed = built
    rows = warehouse.rows(
        "select customer_id, name, app_db_account_id, stripe_customer_id from billing.customers where customer_id = ?",
        keyed[0]["metadata"]["external_id"],
    )
    assert rows == [(keyed[0]["metadata"]["external_id"], "App name 1", "1", keyed[0]["id"])]


def test_a_stripe_customer_without_the_key_stays_its_own_customer(built):
    warehouse, store, _ = built
    unkeyed = [c for c in store["customers"].values() if not c["metadata"].get("external_id") and not c.get("deleted")]
    assert unkeyed
    rows = warehouse.rows(
        "select customer_id, stripe_customer_id, source_system, name from billing.customers"
        f" where stripe_customer_id in ({', '.join('?' * len(unkeyed))}) order by stripe_customer_id",
        *[c["id"] for c in unkeyed],
    )
    assert rows == sorted((f"stripe-{c['id']}", c["id"], "stripe", c["name"]) for c in unkeyed)


def test_every_stripe_customer_is_canonical_once(built):
    warehouse, store, _ = built
    live = sum(not c.get("deleted") for c in store["customers"].values())
    assert warehouse.rows("select count(*) from billing.customers where stripe_customer_id is not null") == [(live,)]
    assert warehouse.rows("select count(*), count(distinct customer_id) from billing.customers") == [(live, live)]


def test_subscriptions_become_contracts_with_canonical_statuses(built):
    warehouse, store, _ = built
    subscriptions = store["subscriptions"]
    rows = dict(warehouse.rows("select contract_id, status from billing.contracts where source_system = 'stripe'"))
    assert set(rows) == set(subscriptions)
    expected = {"active": "active", "trialing": "draft", "paused": "paused", "canceled": "expired"}
    assert rows == {sid: expected[s["status"]] for sid, s in subscriptions.items()}
    owner = warehouse.rows(
        "select contracts.customer_id, customers.stripe_customer_id from billing.contracts"
        " join billing.customers using (customer_id) where contracts.stripe_subscription_id = ?",
        next(iter(subscriptions)),
    )
    assert owner[0][1] == subscriptions[next(iter(subscriptions))]["customer"]


def test_items_and_legacy_plans_become_contract_items_priced_in_currency_units(built):
    warehouse, store, _ = built
    items = [(sid, item) for sid, s in store["subscriptions"].items() for item in s["items"]]
    assert any("plan" in item for _, item in items)  # older accounts' items are included
    count = warehouse.rows(
        "select count(*) from billing.contract_items where contract_id in (select contract_id from billing.contracts"
        " where source_system = 'stripe')"
    )
    assert count == [(len(items),)]
    sid, item = next((sid, item) for sid, item in items if "price" in item)
    price = store["prices"][item["price"]]
    unit_amount = warehouse.rows(
        "select unit_amount, currency, billing_period from billing.contract_items where contract_id = ?"
        " and product_id = ?",
        sid,
        price["product"],
    )
    interval = {"month": "M", "year": "Y"}[price["recurring"]["interval"]]
    assert unit_amount == [
        (
            Decimal(price["unit_amount_decimal"]) / 100,
            price["currency"].upper(),
            f"P{price['recurring']['interval_count']}{interval}",
        )
    ]
