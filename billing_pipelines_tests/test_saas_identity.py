"""One company seen by the app, Stripe and HubSpot at once, carried into the canonical tables on
DuckDB: a customer whose id the Stripe customer's metadata and the HubSpot company's property
both hold is one canonical customer carrying the app's account id, the Stripe customer id and the
HubSpot company id; a record without the key stays a customer of its own."""

from datetime import date

import pytest

from billing_pipelines.defs.stripe.extract import OBJECTS, stripe_dlt_source
from billing_pipelines.lib.http_client import ApiClient, RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.api_sources import add_app_customers, app_customers_named_in_order, raw_pipeline
from billing_pipelines_tests.dbt.test_models import Warehouse, assert_ok
from billing_pipelines_tests.hubspot.test_hubspot_canonical import TOKEN as HUBSPOT_TOKEN
from billing_pipelines_tests.hubspot.test_hubspot_canonical import load_hubspot

API_KEY = "sk_test_identity_0123456789"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both stand-ins seeded from the same company; the app knows three of its customers."""
    root = tmp_path_factory.mktemp("saas_identity")
    company = app_company(date(2026, 9, 30), seed=4, accounts=40)
    stripe, hubspot = StripeStandin(api_key=API_KEY), HubSpotStandin(token=HUBSPOT_TOKEN)
    stripe.seed_from_sandbox(*company)
    hubspot.seed_from_sandbox(*company)
    stripe_ids = {
        c["metadata"]["external_id"]: c["id"]
        for c in stripe._store["customers"].values()
        if c["metadata"].get("external_id") and not c.get("deleted")
    }
    hubspot_ids = {
        r.properties["external_customer_id"]: str(i)
        for i, r in hubspot._records["companies"].items()
        if r.properties.get("external_customer_id")
    }
    in_app = sorted(set(stripe_ids) & set(hubspot_ids))[:3]
    warehouse = Warehouse(root / "warehouse.duckdb", root)
    add_app_customers(warehouse.path, app_customers_named_in_order(in_app))
    with stripe.serving() as base_url:
        client = ApiClient("stripe", base_url, headers={"Authorization": f"Bearer {API_KEY}"}, retry=RetryPolicy())
        pipeline = raw_pipeline("identity_stripe", warehouse.path, "raw_stripe", root / "pipelines")
        pipeline.run(stripe_dlt_source(client, list(OBJECTS)))
    load_hubspot(hubspot, warehouse, root / "pipelines")
    assert_ok(warehouse.dbt("build"))
    return warehouse, stripe, hubspot, stripe_ids, hubspot_ids, in_app


def test_customers_known_to_the_app_stripe_and_hubspot_carry_all_three_ids(built):
    warehouse, _, _, stripe_ids, hubspot_ids, in_app = built
    rows = warehouse.rows(
        "select customer_id, app_db_account_id, stripe_customer_id, hubspot_company_id, name, source_system"
        f" from billing.customers where customer_id in ({', '.join('?' * len(in_app))}) order by app_db_account_id",
        *in_app,
    )
    assert rows == [
        (external_id, str(n), stripe_ids[external_id], hubspot_ids[external_id], f"App name {n}", "app_db")
        for n, external_id in enumerate(in_app, start=1)
    ]


def test_customers_only_stripe_and_hubspot_know_carry_both_their_ids(built):
    warehouse, _, _, stripe_ids, hubspot_ids, in_app = built
    shared = set(stripe_ids) & set(hubspot_ids) - set(in_app)
    assert len(shared) > 10
    rows = warehouse.rows(
        "select customer_id, stripe_customer_id, hubspot_company_id, app_db_account_id, source_system"
        " from billing.customers where stripe_customer_id is not null and hubspot_company_id is not null"
        " and app_db_account_id is null"
    )
    # Stripe ranks before HubSpot in staging_sources(): its record is the one kept, HubSpot's adds its id
    assert sorted(rows) == sorted((e, stripe_ids[e], hubspot_ids[e], None, "stripe") for e in shared)


def test_every_identity_is_one_canonical_customer(built):
    warehouse, stripe, hubspot, stripe_ids, hubspot_ids, in_app = built
    named = {s["customer"] for s in stripe._store["subscriptions"].values()}
    unkeyed_stripe = {  # a customer deleted before the sync reads back bare, without its key
        f"stripe-{c['id']}"
        for c in stripe._store["customers"].values()
        if (c["id"] in named if c.get("deleted") else not c["metadata"].get("external_id"))
    }
    unkeyed_hubspot = {
        f"hubspot-{i}" for i, r in hubspot._records["companies"].items() if not r.properties.get("external_customer_id")
    }
    expected = set(in_app) | set(stripe_ids) | set(hubspot_ids) | unkeyed_stripe | unkeyed_hubspot
    assert unkeyed_stripe and unkeyed_hubspot
    assert {row[0] for row in warehouse.rows("select customer_id from billing.customers")} == expected
    assert warehouse.rows("select count(*) from billing.customers") == [(len(expected),)]
