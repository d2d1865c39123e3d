"""A Stripe account carried into the canonical tables on DuckDB: loaded from the stand-in by the
Stripe source, then every dbt model and test built. Identity across systems is by explicit key
only: a Stripe customer whose metadata names the company's id is the app's customer; one
without it stays a customer of its own."""

import json
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


def add_tiered_subscriptions(standin: StripeStandin) -> None:
    """A customer subscribed to a graduated metered price (sub-cent rates, and a flat fee on its
    first tier), and to a volume price on an older account (the item carries only the legacy plan)."""
    customer = next(c["id"] for c in standin._store["customers"].values() if not c.get("deleted"))
    calls = standin.add_product("Graduated API calls", metadata={"metric": "api_calls"})["id"]
    graduated = standin.add_price(
        calls, "eur", tiers=[(1000, "0.2"), (10_000, 15), (None, "0.05")], usage_type="metered"
    )
    tiers = [dict(tier) for tier in graduated["tiers"]]
    tiers[0] |= {"flat_amount": 2500, "flat_amount_decimal": "2500"}
    standin.update_price(graduated["id"], tiers=tiers)
    seats = standin.add_product("Volume seats")["id"]
    volume = standin.add_price(seats, "usd", tiers=[(5, 1000), (None, 800)], tiers_mode="volume")
    standin.add_subscription(customer, [(graduated["id"], None)])
    standin.add_subscription(customer, [(volume["id"], 3)], legacy_plan=True)


def add_other_minor_unit_subscriptions(standin: StripeStandin) -> None:
    """Prices in a zero-decimal currency (JPY: Stripe's amounts are whole yen), flat and tiered,
    and in a three-decimal one (KWD: thousandths of a dinar)."""
    customer = next(c["id"] for c in standin._store["customers"].values() if not c.get("deleted"))
    yen_plan = standin.add_product("Yen plan")["id"]
    yen_tiers = standin.add_product("Yen tiers")["id"]
    dinar_plan = standin.add_product("Dinar plan")["id"]
    yen = standin.add_price(yen_plan, "jpy", 5000)
    tiered_yen = standin.add_price(yen_tiers, "jpy", tiers=[(100, 3), (None, 2)], usage_type="metered")
    dinar = standin.add_price(dinar_plan, "kwd", 5120)
    standin.add_subscription(customer, [(yen["id"], 1), (tiered_yen["id"], None), (dinar["id"], 1)])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The app knows two customers; Stripe holds the whole (small) company, plus two tiered
    prices; dbt builds it all."""
    root = tmp_path_factory.mktemp("stripe_canonical")
    standin = StripeStandin(api_key=API_KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=4, accounts=40))
    add_tiered_subscriptions(standin)
    add_other_minor_unit_subscriptions(standin)
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
    named = {s["customer"] for s in store["subscriptions"].values()}
    known = sum(not c.get("deleted") or c["id"] in named for c in store["customers"].values())
    assert warehouse.rows("select count(*) from billing.customers where stripe_customer_id is not null") == [(known,)]
    assert warehouse.rows("select count(*), count(distinct customer_id) from billing.customers") == [(known, known)]


def test_a_customer_deleted_before_the_first_sync_is_kept_deleted_for_its_contracts(built):
    warehouse, store, _ = built
    named = {s["customer"] for s in store["subscriptions"].values()}
    deleted = sorted(c["id"] for c in store["customers"].values() if c.get("deleted") and c["id"] in named)
    assert deleted
    rows = warehouse.rows(
        "select stripe_customer_id, customer_id, is_deleted from billing.customers"
        f" where stripe_customer_id in ({', '.join('?' * len(deleted))}) order by 1",
        *deleted,
    )
    assert rows == [(d, f"stripe-{d}", True) for d in deleted]  # Stripe no longer says whose it was
    orphans = warehouse.rows(
        "select count(*) from billing.contracts left join billing.customers using (customer_id)"
        " where contracts.source_system = 'stripe' and customers.customer_id is null"
    )
    assert orphans == [(0,)]


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


def test_tiered_prices_keep_their_tiers_in_currency_units(built):
    """A tiered price reaches contract_items with its whole tier table as JSON, amounts in the
    currency's unit, in Stripe's order, and the first tier's rate as its unit_amount; a legacy
    plan's tiers too. Every tiered Stripe item has its tiers; no other item has any."""
    warehouse, store, _ = built
    product = {p["name"]: p["id"] for p in store["products"].values()}
    rows = warehouse.rows(
        "select product_id, pricing_model, unit_amount, tiers from billing.contract_items"
        " where product_id in (?, ?) order by unit_amount",
        product["Graduated API calls"],
        product["Volume seats"],
    )
    assert [(row[0], row[1], row[2], json.loads(row[3])) for row in rows] == [
        (
            product["Graduated API calls"],
            "tiered",
            Decimal("0.002"),
            [
                {"up_to": 1000, "unit_amount": "0.002", "flat_amount": "25"},
                {"up_to": 10000, "unit_amount": "0.15", "flat_amount": None},
                {"up_to": None, "unit_amount": "0.0005", "flat_amount": None},
            ],
        ),
        (
            product["Volume seats"],
            "volume",
            Decimal("10"),
            [
                {"up_to": 5, "unit_amount": "10", "flat_amount": None},
                {"up_to": None, "unit_amount": "8", "flat_amount": None},
            ],
        ),
    ]
    kinds = warehouse.rows(
        "select distinct pricing_model in ('tiered', 'volume'), tiers is not null, unit_amount is not null"
        " from billing.contract_items join billing.contracts using (contract_id) where source_system = 'stripe'"
    )
    assert sorted(kinds) == [(False, False, True), (True, True, True)]


def test_amounts_of_zero_and_three_decimal_currencies_are_in_their_own_units(built):
    warehouse, store, _ = built
    product = {p["name"]: p["id"] for p in store["products"].values()}
    rows = warehouse.rows(
        "select product_id, currency, unit_amount, tiers from billing.contract_items where product_id in (?, ?, ?)",
        product["Yen plan"],
        product["Yen tiers"],
        product["Dinar plan"],
    )
    assert {name: (currency, amount, tiers and json.loads(tiers)) for name, currency, amount, tiers in rows} == {
        product["Yen plan"]: ("JPY", Decimal("5000"), None),  # ¥5,000, not ¥50
        product["Yen tiers"]: (
            "JPY",
            Decimal("3"),
            [
                {"up_to": 100, "unit_amount": "3", "flat_amount": None},
                {"up_to": None, "unit_amount": "2", "flat_amount": None},
            ],
        ),
        product["Dinar plan"]: ("KWD", Decimal("5.12"), None),  # 5.120 KWD
    }
