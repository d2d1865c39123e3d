"""The Stripe source against the Stripe stand-in over real HTTP, loaded by dlt into DuckDB:
first sync, changes and deletes through the events feed, retention, rate limits, failures."""

from datetime import date

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from billing_pipelines.defs.stripe.extract import FETCHED, OBJECTS, changes_since, needs_full_read, stripe_dlt_source
from billing_pipelines.lib.http_client import ApiClient, RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.api_sources import raw_pipeline

API_KEY = "sk_test_stripe_extract_0123456789"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_delay_seconds=1)
DAY = 86_400


@pytest.fixture
def stripe(tmp_path):
    standin = StripeStandin(api_key=API_KEY)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=3, accounts=150))
    with standin.serving() as base_url:
        yield Sync(standin, base_url, tmp_path)


class Sync:
    """Runs the Stripe source into a DuckDB file the way a raw asset does, and reads it back."""

    def __init__(self, standin: StripeStandin, base_url: str, tmp_path):
        self.standin, self.base_url = standin, base_url
        self.warehouse = str(tmp_path / "warehouse.duckdb")
        self.pipeline = raw_pipeline("stripe_test", self.warehouse, "raw_stripe", tmp_path / "pipelines")

    def run(self, objects=OBJECTS, select=None) -> int:
        """One sync (narrowed to the resources `select` names, if any); the requests it made."""
        client = ApiClient("stripe", self.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, retry=FAST)
        source = stripe_dlt_source(client, list(objects), now=self.standin.now)
        self.pipeline.run(source.with_resources(*select) if select else source)
        return client.requests_made

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(self.warehouse, read_only=True) as connection:
            return connection.execute(sql).fetchall()

    def count(self, table: str) -> int:
        return self.query(f"select count(*) from raw_stripe.{table}")[0][0]

    def stored(self, collection: str) -> dict[str, dict]:
        return self.standin._store[collection]


def live(objects: dict) -> list[dict]:
    return [o for o in objects.values() if not o.get("deleted")]


def deleted_with_subscriptions(stripe) -> set[str]:
    """Customers deleted before the first sync that a subscription still names."""
    named = {s["customer"] for s in stripe.stored("subscriptions").values()}
    return {c["id"] for c in stripe.stored("customers").values() if c.get("deleted") and c["id"] in named}


def test_the_first_sync_loads_every_object_over_several_pages(stripe):
    requests = stripe.run()
    customers, subscriptions = live(stripe.stored("customers")), stripe.stored("subscriptions")
    assert len(customers) > 100  # more than one page
    deleted = deleted_with_subscriptions(stripe)
    assert deleted  # the sandbox has churned customers whose (canceled) subscriptions remain
    assert stripe.count("customers") == len(customers) + len(deleted)
    loaded_deleted = stripe.query("select id from raw_stripe.customers where deleted")
    assert {customer_id for (customer_id,) in loaded_deleted} == deleted  # each read back as `deleted: true`
    assert stripe.count("subscriptions") == len(subscriptions)  # canceled ones too (status=all)
    assert stripe.count("subscription_items") == sum(len(s["items"]) for s in subscriptions.values())
    assert stripe.count("prices") == len(stripe.stored("prices"))
    assert stripe.count("products") == len(stripe.stored("products"))
    assert {status for (status,) in stripe.query("select distinct status from raw_stripe.subscriptions")} >= {
        "active",
        "canceled",
    }
    assert requests == stripe.standin.requests_to("/v1/")


def test_changes_and_deletes_after_the_first_sync_arrive_through_events(stripe):
    stripe.run()
    loaded = stripe.count("customers")
    customers = live(stripe.stored("customers"))
    changed, deleted = customers[0], customers[1]
    subscription = next(s for s in stripe.stored("subscriptions").values() if s["status"] == "active")
    price = next(iter(stripe.stored("prices").values()))
    stripe.standin.advance(60)
    stripe.standin.update_customer(changed["id"], email="new-billing@example.com")
    stripe.standin.delete_customer(deleted["id"])
    stripe.standin.cancel_subscription(subscription["id"])
    stripe.standin.update_price(price["id"], nickname="renamed")
    stripe.standin.reset_log()

    stripe.run()

    row = stripe.query(f"select email from raw_stripe.customers where id = '{changed['id']}'")
    assert row == [("new-billing@example.com",)]
    gone = stripe.query(f"select deleted, name from raw_stripe.customers where id = '{deleted['id']}'")
    assert gone == [(True, deleted["name"])]  # flagged, and what the customer was is kept
    status = stripe.query(f"select status from raw_stripe.subscriptions where id = '{subscription['id']}'")
    assert status == [("canceled",)]
    assert stripe.query(f"select nickname from raw_stripe.prices where id = '{price['id']}'") == [("renamed",)]
    assert stripe.count("customers") == loaded  # merged: nothing duplicated
    assert stripe.standin.requests_to("/v1/customers") == 1  # the changed one fetched again; not a listing


def test_a_second_sync_with_no_changes_makes_one_request_per_object_type(stripe):
    stripe.run()
    stripe.standin.advance(60)
    stripe.standin.reset_log()
    assert stripe.run() == len(FETCHED)
    assert stripe.standin.requests_to("/v1/events") == len(FETCHED)


def test_a_cursor_past_the_events_retention_lists_everything_again(stripe):
    stripe.run()
    customer = live(stripe.stored("customers"))[0]
    stripe.standin.update_customer(customer["id"], name="Renamed Ltd")
    stripe.standin.advance(31 * DAY)  # the update's event is gone from the feed
    stripe.standin.reset_log()
    stripe.run(["customers"])
    assert stripe.standin.requests_to("/v1/events") == 0
    listing = 2 + len(deleted_with_subscriptions(stripe))  # both pages, then each deleted customer
    assert stripe.standin.requests_to("/v1/customers") == listing
    assert stripe.query(f"select name from raw_stripe.customers where id = '{customer['id']}'") == [("Renamed Ltd",)]


def test_a_burst_of_429s_is_survived_with_the_right_totals(stripe):
    stripe.standin.inject_faults(429, 2, path_prefix="/v1/customers")
    stripe.standin.inject_faults(500, 2, path_prefix="/v1/subscriptions")
    stripe.run()
    assert stripe.count("customers") == len(live(stripe.stored("customers"))) + len(deleted_with_subscriptions(stripe))
    assert stripe.count("subscriptions") == len(stripe.stored("subscriptions"))


def test_exhausted_retries_fail_the_sync_naming_the_endpoint_and_keep_what_was_loaded(stripe):
    stripe.run()
    customer = live(stripe.stored("customers"))[0]
    stripe.standin.advance(60)
    stripe.standin.update_customer(customer["id"], email="changed@example.com")
    stripe.standin.inject_faults(503, FAST.attempts, path_prefix="/v1/events")
    with pytest.raises(PipelineStepFailed) as failure:
        stripe.run(["customers"])
    assert "stripe: GET /v1/events failed after 3 attempts with HTTP 503" in str(failure.value)
    assert API_KEY not in str(failure.value)
    assert stripe.query(f"select email from raw_stripe.customers where id = '{customer['id']}'") == [
        (customer["email"],)
    ]
    stripe.run(["customers"])  # the cursor did not move: the next sync still sees the change
    assert stripe.query(f"select email from raw_stripe.customers where id = '{customer['id']}'") == [
        ("changed@example.com",)
    ]


def test_changes_keep_one_entry_per_object_and_a_deleted_customers_last_snapshot():
    events = [
        {"type": "customer.updated", "created": 1, "data": {"object": {"id": "cus_1"}}},
        {"type": "customer.deleted", "created": 2, "data": {"object": {"id": "cus_1", "name": "Acme"}}},
        {"type": "customer.subscription.updated", "created": 3, "data": {"object": {"id": "sub_1"}}},
        {"type": "customer.subscription.updated", "created": 4, "data": {"object": {"id": "sub_1"}}},
        {"type": "invoice.paid", "created": 5, "data": {"object": {"id": "in_1"}}},
    ]
    assert changes_since(events) == {
        "customers": {"cus_1": {"id": "cus_1", "name": "Acme", "deleted": True}},
        "subscriptions": {"sub_1": None},
    }


def test_a_full_read_is_needed_without_a_cursor_or_past_retention():
    assert needs_full_read(None, 1_000_000)
    assert not needs_full_read(1_000_000, 1_000_000 + 28 * DAY)
    assert needs_full_read(1_000_000, 1_000_000 + 30 * DAY)


def test_customers_carry_the_companys_key_from_the_configured_metadata_key(stripe):
    stripe.run(["customers"])
    keyed = stripe.query("select id, billing_external_id from raw_stripe.customers order by id")
    stored = {c["id"]: c["metadata"].get("external_id") for c in live(stripe.stored("customers"))}
    stored |= dict.fromkeys(deleted_with_subscriptions(stripe))  # read back bare: Stripe keeps no metadata
    assert dict(keyed) == stored
    assert any(key is None for _, key in keyed) and any(key for _, key in keyed)


def test_a_subscription_read_again_replaces_its_items(stripe):
    stripe.run()
    subscription = next(s for s in stripe.stored("subscriptions").values() if len(s["items"]) > 1)
    first_price = subscription["items"][0]["price"] if "price" in subscription["items"][0] else None
    stripe.standin.advance(60)
    kept = [(first_price or next(iter(stripe.stored("prices"))), 3)]
    stripe.standin.update_subscription(subscription["id"], items=kept)
    stripe.run()
    items = stripe.query(
        f"select quantity from raw_stripe.subscription_items where subscription = '{subscription['id']}'"
    )
    assert items == [(3,)]


def test_loading_only_the_items_leaves_the_subscriptions_cursor_where_it_was(stripe):
    stripe.run()
    subscription = next(s for s in stripe.stored("subscriptions").values() if s["status"] == "active")
    stripe.standin.advance(60)
    stripe.standin.cancel_subscription(subscription["id"])
    stripe.standin.advance(3600)  # past the cursor's margin: a moved cursor would skip the cancellation
    stripe.run(["subscription_items"])
    stripe.run(OBJECTS, select=["subscription_items"])  # as Dagster narrows a run to its selected assets
    stripe.standin.advance(3600)
    stripe.run(["subscriptions"])
    status = stripe.query(f"select status from raw_stripe.subscriptions where id = '{subscription['id']}'")
    assert status == [("canceled",)]
