"""Reading a Stripe account: customers, products, prices and subscriptions (with their items).

Stripe lists objects newest first and filters them only by creation time: there is no "changed
since". So the first sync lists everything (subscriptions with `status=all`, or canceled ones
would be missed; customers deleted before it are read one by one where a subscription still
names them), and every later sync reads only the events feed since its cursor and fetches
again each object an event names; a deleted customer, which no longer lists and reads back as a
bare `deleted: true`, is loaded from its deletion event's snapshot, flagged `deleted`. Events are
kept 30 days: a cursor older than that (a sync paused for a month) cannot see every change, so
the sync lists everything again instead.

The cursor is the time the last sync started reading, less a margin for events that become
visible late; re-reading an event twice only fetches an object twice, and raw merges on `id`.
A sync with nothing changed makes one request per object type. Objects land as Stripe delivers
them, nested objects flattened into `a__b` columns; a subscription's items are also rows of
`subscription_items` (each with its price or, on older accounts, its `plan`). Prices are read
with their tier tables expanded (Stripe leaves them out otherwise, and cannot expand them from a
subscription: too many levels), which dlt loads as `prices__tiers`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import dlt
from dlt.extract.source import DltSource

from billing_pipelines.config import StripeSourceConfig
from billing_pipelines.lib.dlt_selection import loads_all
from billing_pipelines.lib.http_client import ApiClient, BearerTokenFromEnv, RetryPolicy

FETCHED = ("customers", "products", "prices", "subscriptions")
"""What a Stripe sync reads from the API, each one raw table merged on `id`."""
OBJECTS = (*FETCHED, "subscription_items")
"""Its raw tables: the items of the subscriptions are rows of their own."""
FEEDS = {collection: (collection,) for collection in FETCHED} | {
    "subscriptions": ("subscriptions", "subscription_items")
}
"""The raw tables each read feeds: the subscriptions also feed their items."""
TABLE_MEANING = {
    "customers": "who pays: Stripe customers, with the company's own id in their metadata",
    "products": "what is sold: the catalogue the prices belong to",
    "prices": "how it is priced: unit amounts or tiers, currency and billing interval",
    "subscriptions": "what each customer agreed to: status and term (its items as delivered, JSON)",
    "subscription_items": "the priced lines of each subscription: its price (or legacy plan) and quantity",
}
EXPAND = {"prices": "tiers"}
"""What a read must ask Stripe to include: a tiered price's tier table is left out by default
(and an item's price cannot be expanded that deep from a subscriptions list: too many levels)."""
LIST_PARAMS = {"subscriptions": {"status": "all"}} | {
    collection: {"expand[]": f"data.{field}"} for collection, field in EXPAND.items()
}
"""What a list must ask for to see every object whole (canceled subscriptions are left out by
default)."""
EVENT_TYPE_OF = {
    "subscriptions": "customer.subscription.",  # before "customer.": the longer prefix wins
    "customers": "customer.",
    "products": "product.",
    "prices": "price.",
}
"""The prefix of the event types about each object (`customer.*` also matches subscriptions')."""
PAGE_SIZE = 100  # Stripe's largest page
BILLING_KEY = "billing_external_id"
"""The column of raw customers holding the company's own id (staging's external_id)."""
EVENT_RETENTION_SECONDS = 30 * 86_400
SAFE_RETENTION_SECONDS = EVENT_RETENTION_SECONDS - 86_400
"""A cursor older than this lists everything again (a day short of Stripe's 30, for clock skew)."""
VISIBILITY_MARGIN_SECONDS = 300
"""How far back of its start a sync's cursor is set: events may become listable a little late."""


def list_pages(client: ApiClient, collection: str, params: dict | None = None) -> Iterator[list[dict]]:
    """Every object of a list endpoint, a page at a time, following `starting_after`."""
    query = {"limit": PAGE_SIZE, **(params or {})}
    while True:
        page = client.get(f"/v1/{collection}", query)
        if page["data"]:
            yield page["data"]
        if not page["has_more"]:
            return
        query["starting_after"] = page["data"][-1]["id"]


def collection_of(event_type: str) -> str | None:
    """The object an event is about (`customer.subscription.updated` → subscriptions)."""
    return next((name for name, prefix in EVENT_TYPE_OF.items() if event_type.startswith(prefix)), None)


def changes_since(events: list[dict]) -> dict[str, dict[str, dict | None]]:
    """Per collection, the ids the events name: None to fetch again, or the final snapshot of a
    deleted customer (flagged `deleted`), which Stripe no longer serves in full."""
    changed: dict[str, dict[str, dict | None]] = defaultdict(dict)
    for event in sorted(events, key=lambda e: e["created"]):
        collection = collection_of(event["type"])
        if collection is None:
            continue
        obj = event["data"]["object"]
        if event["type"] == "customer.deleted":
            changed[collection][obj["id"]] = {**obj, "deleted": True}
        else:
            changed[collection].setdefault(obj["id"], None)
    return changed


def needs_full_read(cursor: float | None, now: float) -> bool:
    """No cursor yet, or one whose events Stripe may already have dropped."""
    return cursor is None or now - cursor > SAFE_RETENTION_SECONDS


def fetched(client: ApiClient, collection: str, ids: dict[str, dict | None]) -> list[dict]:
    """The changed objects as Stripe serves them now (deleted customers from their snapshot)."""
    params = {"expand[]": EXPAND[collection]} if collection in EXPAND else None
    return [snapshot or client.get(f"/v1/{collection}/{object_id}", params) for object_id, snapshot in ids.items()]


def with_billing_key(external_id_key: str) -> Callable[[dict], dict]:
    """Adds `billing_external_id`: the company's own customer id, from the metadata key the
    config names (None when the customer has none: it stays a customer of its own)."""

    def add(customer: dict) -> dict:
        value = (customer.get("metadata") or {}).get(external_id_key)
        return {**customer, BILLING_KEY: value.strip() if isinstance(value, str) and value.strip() else None}

    return add


def subscription_items(subscriptions: list[dict] | dict) -> list[dict]:
    """The items of some subscriptions, each with its subscription's id: a subscription read
    again delivers all its items, which replace the ones stored for it (an item removed in
    Stripe disappears)."""
    batch = subscriptions if isinstance(subscriptions, list) else [subscriptions]
    return [{**item, "subscription": sub["id"]} for sub in batch for item in sub["items"]["data"]]


@dlt.source(name="stripe", max_table_nesting=3)
def stripe_source(
    client: ApiClient,
    objects: tuple[str, ...] = OBJECTS,
    now: Callable[[], float] = time.time,
    external_id_key: str = "external_id",
) -> list:
    """The account's billing objects into `raw_stripe`, each merged on `id`; customers carry
    `billing_external_id` beside their metadata, and subscriptions' items also land as rows of
    `subscription_items` (a subscription keeps its items list as JSON, as delivered). `now` is
    the sync's clock (Stripe's clock, in production)."""
    resources = {}
    for collection in FETCHED:
        resources[collection] = dlt.resource(
            _read(client, collection, now),
            name=collection,
            write_disposition="merge",
            primary_key="id",
            columns={"items": {"data_type": "json"}} if collection == "subscriptions" else None,
        )
    resources["customers"].add_map(with_billing_key(external_id_key))
    resources["subscription_items"] = dlt.transformer(
        subscription_items,
        data_from=resources["subscriptions"],
        name="subscription_items",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="id",
        merge_key="subscription",
    )
    return [resources[name] for name in objects]


def _read(client: ApiClient, collection: str, now: Callable[[], float]) -> Iterator[list[dict]]:
    """One object type: everything on its first sync (or when its cursor is past the events'
    retention), otherwise what the events since its cursor name. Each type keeps its own cursor
    in dlt's state, committed with its load, so a run that loads only some types (or fails)
    moves no other cursor; the subscriptions' moves only when their items are loaded too."""
    state = dlt.current.resource_state()
    started, cursor = now(), state.get("events_cursor")
    if needs_full_read(cursor, started) and collection == "customers":
        yield from _all_customers(client)
    elif needs_full_read(cursor, started):
        yield from list_pages(client, collection, LIST_PARAMS.get(collection))
    else:
        events = list_pages(client, "events", {"type": f"{EVENT_TYPE_OF[collection]}*", "created[gte]": int(cursor)})
        changed = changes_since([event for page in events for event in page]).get(collection)
        if changed:
            yield fetched(client, collection, changed)
    if loads_all(FEEDS[collection]):
        state["events_cursor"] = started - VISIBILITY_MARGIN_SECONDS


def _all_customers(client: ApiClient) -> Iterator[list[dict]]:
    """Every customer: the listed ones, then those deleted before this read that a subscription
    still names (lists leave them out; each reads back as a bare `deleted: true`), so every
    contract has its customer, flagged deleted."""
    listed: set[str] = set()
    for page in list_pages(client, "customers"):
        listed.update(customer["id"] for customer in page)
        yield page
    subscriptions = list_pages(client, "subscriptions", LIST_PARAMS["subscriptions"])
    unlisted = {sub["customer"] for page in subscriptions for sub in page} - listed
    if unlisted:
        yield fetched(client, "customers", dict.fromkeys(sorted(unlisted)))


def stripe_client(source_name: str, source: StripeSourceConfig) -> ApiClient:
    """The account's API, its key read from `api_key_env` when a request is sent."""
    auth = BearerTokenFromEnv(source_name, source.api_key_env, "Stripe API key")
    return ApiClient(source_name, source.base_url, auth=auth, retry=RetryPolicy(attempts=source.max_attempts))


def stripe_dlt_source(
    client: ApiClient, objects: list[str], now: Callable[[], float] = time.time, external_id_key: str = "external_id"
) -> DltSource:
    """The source for some of the objects (the raw assets a run selects)."""
    return stripe_source(client, tuple(objects), now, external_id_key)
