"""The Stripe stand-in, over real HTTP: what a Stripe connector relies on (paging, filters, events,
errors) must behave as the real API does, or a sync tested against it proves nothing."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import pytest
import requests

from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.stripe_standin import SANDBOX_STATUS, StripeStandin

KEY = "sk_test_standin_0123456789abcdef"
T0 = 1_780_000_000  # the stand-in's clock at the start of every test
DAY = 86_400


@pytest.fixture
def standin() -> StripeStandin:
    return StripeStandin(api_key=KEY, now=lambda: T0)


@pytest.fixture
def api(standin):
    """GET a path of the served stand-in with the right key: `api("/v1/customers", limit=5)`."""
    with standin.serving() as base_url, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        yield lambda path, **params: session.get(f"{base_url}{path}", params=params)


def _all_pages(api, path: str, **params) -> list[dict]:
    """Follow `starting_after` as a connector does, until `has_more` is false."""
    objects, cursor = [], {}
    while True:
        page = api(path, **params, **cursor).json()
        objects += page["data"]
        if not page["has_more"]:
            return objects
        cursor = {"starting_after": page["data"][-1]["id"]}


def _customers(standin: StripeStandin, count: int, step: int = 60) -> list[str]:
    """Customers created `step` seconds apart (two per second with step 0.5 → ties on `created`)."""
    return [
        standin.add_customer(email=f"c{n}@x.example", created=T0 - 10_000 + int(n * step))["id"] for n in range(count)
    ]


def test_pages_newest_first_and_every_customer_exactly_once(standin, api):
    ids = _customers(standin, 25, step=0.5)  # pairs share a `created` second: ties order by id
    seen = _all_pages(api, "/v1/customers", limit=10)
    assert [c["id"] for c in seen] == ids[::-1]
    first = api("/v1/customers", limit=10).json()
    assert first["object"] == "list" and first["url"] == "/v1/customers" and first["has_more"] is True
    back = api("/v1/customers", limit=10, ending_before=seen[10]["id"]).json()  # the page before the second
    assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"]] and back["has_more"] is False


def test_a_bad_limit_cursor_or_parameter_is_refused(api):
    for limit in ("101", "0", "ten"):
        answer = api("/v1/customers", limit=limit)
        assert answer.status_code == 400
        assert (answer.json()["error"]["type"], answer.json()["error"]["param"]) == ("invalid_request_error", "limit")
    missing = api("/v1/customers", starting_after="cus_gone").json()["error"]
    assert (missing["code"], missing["param"], missing["message"]) == (
        "resource_missing", "starting_after", "No such customer: 'cus_gone'",
    )  # fmt: skip
    assert api("/v1/customers", updated_since="1").status_code == 400


def test_created_bounds_select_the_window(standin, api):
    ids = _customers(standin, 10)
    window = api("/v1/customers", **{"created[gte]": T0 - 10_000 + 3 * 60, "created[lt]": T0 - 10_000 + 7 * 60})
    assert [c["id"] for c in window.json()["data"]] == ids[3:7][::-1]
    exact = api("/v1/customers", created=T0 - 10_000 + 5 * 60).json()["data"]
    assert [c["id"] for c in exact] == [ids[5]]


def test_subscriptions_leave_out_canceled_ones_unless_asked(standin, api):
    customer = standin.add_customer(email="a@x.example")["id"]
    product = standin.add_product("Platform")["id"]
    price = standin.add_price(product, "USD", 4900)["id"]
    running, ended = (standin.add_subscription(customer, [(price, 1)])["id"] for _ in range(2))
    standin.cancel_subscription(ended)
    assert [s["id"] for s in api("/v1/subscriptions").json()["data"]] == [running]
    assert {s["id"] for s in api("/v1/subscriptions", status="all").json()["data"]} == {running, ended}
    assert [s["id"] for s in api("/v1/subscriptions", status="canceled").json()["data"]] == [ended]
    assert api("/v1/subscriptions", status="all", customer="cus_other").json()["data"] == []
    item = api(f"/v1/subscriptions/{running}").json()["items"]["data"][0]
    assert item["price"]["unit_amount"] == 4900 and item["price"]["currency"] == "usd" and item["quantity"] == 1


def test_legacy_items_carry_only_the_plan(standin, api):
    customer = standin.add_customer()["id"]
    price = standin.add_price(standin.add_product("Seats")["id"], "eur", "0.04", usage_type="metered")
    subscription = standin.add_subscription(customer, [(price["id"], None)], legacy_plan=True)
    item = api(f"/v1/subscriptions/{subscription['id']}").json()["items"]["data"][0]
    assert "price" not in item and "quantity" not in item
    assert item["plan"]["id"] == price["id"] and item["plan"]["amount"] is None
    assert (item["plan"]["amount_decimal"], item["plan"]["usage_type"], item["plan"]["interval"]) == (
        "0.04", "metered", "month",
    )  # fmt: skip


def test_a_deleted_customer_leaves_the_list_and_reads_back_deleted(standin, api):
    kept, gone = _customers(standin, 2)
    standin.delete_customer(gone)
    assert [c["id"] for c in api("/v1/customers").json()["data"]] == [kept]
    assert api(f"/v1/customers/{gone}").json() == {"id": gone, "object": "customer", "deleted": True}
    unknown = api("/v1/customers/cus_x")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {"type": "invalid_request_error", "code": "resource_missing",
                  "message": "No such customer: 'cus_x'", "param": "id"}
    }  # fmt: skip


def test_changes_are_events_with_snapshots_and_previous_attributes(standin, api):
    customer = standin.add_customer(email="old@x.example", metadata={"external_id": "CUS-1"})["id"]
    standin.update_customer(customer, email="new@x.example", metadata={"tier": "gold"})
    standin.delete_customer(customer)
    changes = api("/v1/events", **{"types[]": ["customer.updated", "customer.deleted"]}).json()["data"]
    assert [e["type"] for e in changes] == ["customer.deleted", "customer.updated"]  # newest first
    update = changes[1]
    assert update["data"]["object"]["email"] == "new@x.example"
    assert update["data"]["object"]["metadata"] == {"external_id": "CUS-1", "tier": "gold"}
    assert update["data"]["previous_attributes"] == {"email": "old@x.example", "metadata": {"external_id": "CUS-1"}}
    assert changes[0]["data"]["object"]["deleted"] is True and "previous_attributes" not in changes[0]["data"]
    assert (update["object"], update["api_version"], update["request"]) == (
        "event", "2024-06-20", {"id": None, "idempotency_key": None},
    )  # fmt: skip
    assert len(api("/v1/events", type="customer.*").json()["data"]) == 3
    assert len(api("/v1/events", **{"types[0]": "customer.created"}).json()["data"]) == 1  # stripe-python's form


def test_events_older_than_30_days_are_gone(standin, api):
    customer = standin.add_customer()["id"]
    standin.advance(29 * DAY)
    standin.update_customer(customer, name="Renamed")
    event_id = api("/v1/events").json()["data"][0]["id"]
    standin.advance(2 * DAY)  # the creation is now 31 days old, the update 2
    assert [e["type"] for e in api("/v1/events").json()["data"]] == ["customer.updated"]
    standin.advance(29 * DAY)
    assert api("/v1/events").json()["data"] == []
    assert api(f"/v1/events/{event_id}").status_code == 404


def test_a_missing_or_wrong_key_is_refused_without_echoing_it(standin):
    with standin.serving() as base_url:
        missing = requests.get(f"{base_url}/v1/customers")
        wrong = requests.get(f"{base_url}/v1/customers", headers={"Authorization": "Bearer sk_test_wrong_0123456789"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["type"] == wrong.json()["error"]["type"] == "invalid_request_error"
    message = wrong.json()["error"]["message"]
    assert message.startswith("Invalid API Key provided: ") and message.endswith("6789")
    assert "sk_test_wrong_0123456789" not in message and KEY not in missing.text


def test_an_injected_429_carries_retry_after_and_stripes_body(standin, api):
    standin.inject_faults(429, 1, retry_after=2, path_prefix="/v1/customers")
    limited = api("/v1/customers")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    error = limited.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert error["message"].startswith("Request rate limit exceeded.")
    assert api("/v1/customers").status_code == 200


def test_ids_follow_the_calls_not_chance():
    def story(standin: StripeStandin) -> list[str]:
        product = standin.add_product("Platform")["id"]
        return [product, standin.add_price(product, "usd", 100)["id"], standin.add_customer()["id"]]

    assert story(StripeStandin(now=lambda: T0)) == story(StripeStandin(now=lambda: T0))


@pytest.fixture(scope="module")
def company():
    return app_company(date(2026, 9, 30), seed=3, accounts=40)


def test_seeding_from_the_sandbox_company(company, api, standin):
    accounts, subscriptions, items = company
    standin.seed_from_sandbox(accounts, subscriptions, items)
    live = [a for a in accounts if a.deleted_at is None]
    assert len(live) < len(accounts)  # deleted accounts are deleted customers: not listed
    customers = _all_pages(api, "/v1/customers", limit=100)
    assert len(customers) == len(live)
    external_ids = [c["metadata"]["external_id"] for c in customers if "external_id" in c["metadata"]]
    assert len(set(external_ids)) == len(external_ids) and set(external_ids) <= {a.profile.external_id for a in live}
    assert 0.8 * len(live) <= len(external_ids) < len(live)  # ~90%: the rest stay their own customers
    assert len(api("/v1/events").json()["data"]) == 0  # seeding is history, not news

    everything = _all_pages(api, "/v1/subscriptions", limit=100, status="all")
    statuses = Counter(SANDBOX_STATUS[s.status] for s in subscriptions)
    assert Counter(s["status"] for s in everything) == statuses
    assert len(_all_pages(api, "/v1/subscriptions", limit=100)) == len(subscriptions) - statuses["canceled"]
    assert len(api("/v1/products", limit=100).json()["data"]) == len({i.product.code for i in items})
    pairs = {(i.product.code, i.subscription.account.profile.currency) for i in items}
    assert len(_all_pages(api, "/v1/prices", limit=100)) == len(pairs)
    seeded_items = [item for s in everything for item in s["items"]["data"]]
    assert len(seeded_items) == len(items)
    legacy = [item for item in seeded_items if "plan" in item]
    assert legacy and all("price" not in item for item in legacy) and len(legacy) < len(seeded_items)


def test_seeding_600_accounts_is_fast():
    accounts, subscriptions, items = app_company(date(2026, 9, 30), seed=5, accounts=600)
    standin = StripeStandin(now=lambda: T0)
    started = time.perf_counter()
    standin.seed_from_sandbox(accounts, subscriptions, items)
    assert time.perf_counter() - started < 0.5


def test_a_prices_tiers_are_sent_only_when_expanded_and_never_more_than_four_levels_deep(standin, api):
    product = standin.add_product("API calls")["id"]
    price = standin.add_price(product, "eur", tiers=[(1000, "0.2"), (None, "0.05")], usage_type="metered")
    customer = standin.add_customer(email="t@x.example")["id"]
    standin.add_subscription(customer, [(price["id"], None)])

    assert "tiers" not in api(f"/v1/prices/{price['id']}").json()
    assert [t["up_to"] for t in api(f"/v1/prices/{price['id']}", **{"expand[]": "tiers"}).json()["tiers"]] == [
        1000,
        None,
    ]
    assert "tiers" not in api("/v1/prices").json()["data"][0]
    assert len(api("/v1/prices", **{"expand[]": "data.tiers"}).json()["data"][0]["tiers"]) == 2
    assert "tiers" not in api("/v1/subscriptions").json()["data"][0]["items"]["data"][0]["price"]

    too_deep = api("/v1/subscriptions", **{"expand[]": "data.items.data.price.tiers"})
    assert too_deep.status_code == 400
    assert too_deep.json()["error"]["message"].startswith("You cannot expand more than 4 levels of a property")
