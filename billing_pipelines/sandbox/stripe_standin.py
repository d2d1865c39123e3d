"""The Stripe API, running locally: a stateful fake of the billing objects a Stripe sync reads
(customers, products, prices, subscriptions with their items, and the events log), served over real
HTTP so the connector code a production sync uses talks to it unchanged.

It answers as API version 2024-06-20 does: lists newest first with `starting_after`/`ending_before`
cursors, `limit` 1..100 and `created[...]` filters; Stripe's error bodies (401 for a missing or
wrong key, 404 `resource_missing`, 400 for a bad parameter, 429 `rate_limit`, 5xx `api_error`);
events kept 30 days by the stand-in's clock, which tests move with `advance`. Only reads are served
over HTTP: the data changes through the Python methods (`add_customer`, `update_subscription`, …),
each recording the event Stripe would, so an incremental sync has changes to find.

A price's `tiers` (also on an item's price or plan) is sent only where `expand[]` asks for it
(`tiers` on a retrieve, `data.tiers` on a list), as Stripe does; an expansion deeper than four
levels (`data.items.data.price.tiers`) is refused with Stripe's 400. Other expansions are
accepted and ignored. Where it simplifies (no sync depends on these): subscription periods do not roll over as the clock advances; ids are counters
(`cus_00000000000001`), so a seeded demo is reproducible.

    python -m billing_pipelines.sandbox.stripe_standin --port 12111 [--demo]
"""

from __future__ import annotations

import argparse
import calendar
import operator
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from billing_pipelines.sandbox import generate
from billing_pipelines.sandbox.http_standin import ApiError, HttpStandin, Request, Response

API_VERSION = "2024-06-20"
EVENT_RETENTION_SECONDS = 30 * 86_400  # Stripe lists events of the last 30 days only
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
MAX_EXPAND_LEVELS = 4
SUBSCRIPTION_STATUSES = (
    "active", "trialing", "past_due", "canceled", "unpaid", "incomplete", "incomplete_expired", "paused",
)  # fmt: skip
ENDED_STATUSES = ("canceled", "incomplete_expired")  # what `GET /v1/subscriptions` leaves out by default
CREATED_OPERATORS = {
    "created": operator.eq, "created[gt]": operator.gt, "created[gte]": operator.ge,
    "created[lt]": operator.lt, "created[lte]": operator.le,
}  # fmt: skip
PAGING_PARAMS = {"limit", "starting_after", "ending_before", "expand[]", *CREATED_OPERATORS}
EQUALITY_FILTERS = ("email", "product", "currency", "active", "customer")  # list parameters matching a field
ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")

# The sandbox generator's vocabulary in Stripe's terms.
SANDBOX_STATUS = {  # Stripe has no "ended": a term that ran out without renewal is a canceled subscription
    "active": "active", "trialing": "trialing", "paused": "paused", "canceled": "canceled", "ended": "canceled",
}  # fmt: skip
SANDBOX_INTERVAL = {"P1M": ("month", 1), "P3M": ("month", 3), "P1Y": ("year", 1)}
LEGACY_PLAN_SHARE = 0.2  # seeded subscriptions whose items carry only the legacy `plan`, as older accounts' do


@dataclass(frozen=True)
class Kind:
    """A Stripe object type served under `/v1/<collection>`: its `object` name, the prefix of its
    event types and the query parameters its list takes besides paging."""

    object: str
    event_prefix: str
    params: tuple[str, ...] = ()


KINDS = {
    "customers": Kind("customer", "customer", ("email",)),
    "products": Kind("product", "product", ("active",)),
    "prices": Kind("price", "price", ("product", "currency", "active")),
    "subscriptions": Kind("subscription", "customer.subscription", ("customer", "status")),
    "events": Kind("event", "", ("type", "types[]")),
}


def _error(message: str, **details: str) -> dict:
    """Stripe's error body for a request it refuses (`invalid_request_error`)."""
    return {"error": {"type": "invalid_request_error", "message": message, **details}}


def _missing(collection: str, object_id: str, param: str = "id", status: int = 404) -> ApiError:
    """Stripe's answer for an id it does not know: 404 as the path, 400 as a parameter (a cursor)."""
    message = f"No such {KINDS[collection].object}: '{object_id}'"
    return ApiError(status, _error(message, code="resource_missing", param=param))


def _unix(moment: date | datetime) -> int:
    """Unix seconds of a generator moment (naive datetimes and dates are UTC)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())


def _masked(key: str) -> str:
    """A wrong API key as Stripe echoes it: its prefix and last four characters at most."""
    return key[:8] + "*" * (len(key) - 12) + key[-4:] if len(key) > 16 else "*" * len(key)


def _cents(amount: int | str | Decimal | None) -> tuple[int | None, str | None]:
    """(`unit_amount`, `unit_amount_decimal`) of an amount in cents; sub-cent rates have no `unit_amount`."""
    if amount is None:
        return None, None
    cents = Decimal(str(amount))
    return (int(cents) if cents == cents.to_integral_value() else None), format(cents.normalize(), "f")


def _tier(up_to: int | None, unit_amount: int | str | Decimal) -> dict:
    amount, decimal = _cents(unit_amount)
    return {"flat_amount": None, "flat_amount_decimal": None, "unit_amount": amount, "unit_amount_decimal": decimal,
            "up_to": up_to}  # fmt: skip


def _plan(price: dict) -> dict:
    """The legacy `plan` object mirroring a recurring price (what older accounts' items carry)."""
    recurring = price["recurring"]
    return {
        "id": price["id"], "object": "plan", "active": price["active"], "aggregate_usage": recurring["aggregate_usage"],
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"], "created": price["created"], "currency": price["currency"],
        "interval": recurring["interval"], "interval_count": recurring["interval_count"], "livemode": False,
        "metadata": price["metadata"], "nickname": price["nickname"], "product": price["product"],
        "tiers": price["tiers"], "tiers_mode": price["tiers_mode"], "transform_usage": price["transform_quantity"],
        "usage_type": recurring["usage_type"],
    }  # fmt: skip


def _shifted(start: datetime, interval: str, count: int) -> datetime:
    """`start` moved by `count` monthly or yearly intervals (month ends clamp, as Stripe's anchors do)."""
    years, month = divmod(start.month - 1 + count * (12 if interval == "year" else 1), 12)
    year = start.year + years
    return start.replace(year=year, month=month + 1, day=min(start.day, calendar.monthrange(year, month + 1)[1]))


def _current_period(anchor: int, recurring: dict, at: int) -> tuple[int, int]:
    """The billing period, counted from `anchor`, that contains `at` (the first one if `at` precedes it)."""
    start, step, n = datetime.fromtimestamp(anchor, UTC), recurring["interval_count"], 0
    while _shifted(start, recurring["interval"], step * (n + 1)).timestamp() <= at:
        n += 1
    bounds = (_shifted(start, recurring["interval"], step * k) for k in (n, n + 1))
    return tuple(int(bound.timestamp()) for bound in bounds)


def _picked(n: int, share: float) -> bool:
    """Whether the n-th of a sequence is in an evenly spread, deterministic `share` of it."""
    return int((n + 1) * share) > int(n * share)


def _array_param(request: Request, name: str) -> list[str]:
    """A list parameter as clients send it: `types[]=a&types[]=b` or, like stripe-python, `types[0]=a`."""
    return [v for key, values in request.query.items() if re.fullmatch(rf"{name}\[\d*\]", key) for v in values]


def _integer(request: Request, name: str, default: int | None = None) -> int | None:
    text = request.param(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, _error(f"Invalid integer: {text}", param=name)) from None


def _limit(request: Request) -> int:
    limit = _integer(request, "limit", DEFAULT_LIMIT)
    if limit < 1:
        raise ApiError(400, _error("This value must be greater than or equal to 1.", param="limit"))
    if limit > MAX_LIMIT:
        message = f"This value must be less than or equal to {MAX_LIMIT} (it currently is '{limit}')."
        raise ApiError(400, _error(message, param="limit"))
    return limit


def _as_text(value: object) -> str:
    """A field as a query parameter spells it (`active=true`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _order(obj: dict) -> tuple[int, str]:
    """Stripe's list order, newest first: by `created`, ties by id (ids grow with creation)."""
    return obj["created"], obj["id"]


class StripeStandin(HttpStandin):
    """A Stripe account's billing objects, served read-only over HTTP; the Python methods change
    them and record the events Stripe would send. `now` is the stand-in's clock (unix seconds):
    it stamps new objects and events and decides which events are past retention."""

    def __init__(self, api_key: str = "sk_test_standin", now: Callable[[], float] | None = None):
        super().__init__()
        self.api_key = api_key
        self._clock = now or time.time
        self._offset = 0
        self._ids: Counter[str] = Counter()
        self._store: dict[str, dict[str, dict]] = {collection: {} for collection in KINDS}

    def now(self) -> int:
        return int(self._clock()) + self._offset

    def advance(self, seconds: int) -> None:
        """Move the clock forward (to age events past retention)."""
        with self.lock:
            self._offset += seconds

    # --- HTTP ---------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> dict:
        """Stripe's bodies for injected faults: 429 is a `rate_limit` request error, 5xx an `api_error`."""
        if status == 429:
            message = "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
            return _error(message, code="rate_limit")
        if status >= 500:
            return {"error": {"type": "api_error", "message": "An unknown error occurred."}}
        return _error(message)

    def handle(self, request: Request) -> Response:
        self._authenticate(request)
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[0] == "v1" and len(parts) in (2, 3) and parts[1] in KINDS:
            with self.lock:
                expand = _expansions(request)
                if len(parts) == 3:
                    return Response(200, _expanded(parts[1], self._retrieve(parts[1], parts[2]), expand, ""))
                listed = self._list(parts[1], request)
                return Response(
                    200, {**listed, "data": [_expanded(parts[1], o, expand, "data.") for o in listed["data"]]}
                )
        message = f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs."
        raise ApiError(404, _error(message))

    def _authenticate(self, request: Request) -> None:
        token = request.bearer_token
        if token == self.api_key:
            return
        if token is None:
            message = "You did not provide an API key. Provide it in the Authorization header (Bearer auth)."
        else:
            message = f"Invalid API Key provided: {_masked(token)}"
        raise ApiError(401, _error(message), {"WWW-Authenticate": 'Basic realm="Stripe"'})

    def _find(self, collection: str, object_id: str, param: str = "id", status: int = 404) -> dict:
        """The stored object (deleted customers too); events past retention are gone."""
        obj = self._store[collection].get(object_id)
        if obj is None or (collection == "events" and obj["created"] < self.now() - EVENT_RETENTION_SECONDS):
            raise _missing(collection, object_id, param, status)
        return obj

    def _retrieve(self, collection: str, object_id: str) -> dict:
        obj = self._find(collection, object_id)
        if obj.get("deleted"):
            return {"id": obj["id"], "object": obj["object"], "deleted": True}
        return self._view(collection, obj)

    def _list(self, collection: str, request: Request) -> dict:
        allowed = PAGING_PARAMS | set(KINDS[collection].params)
        unknown = sorted(key for key in request.query if re.sub(r"\[\d+\]$", "[]", key) not in allowed)
        if unknown:
            raise ApiError(400, _error(f"Received unknown parameter: {unknown[0]}", param=unknown[0]))
        limit, checks = _limit(request), self._filters(collection, request)
        rows = sorted((o for o in self._store[collection].values() if all(c(o) for c in checks)), key=_order)[::-1]
        after, before = request.param("starting_after"), request.param("ending_before")
        if after and before:
            message = "You may only specify one of these parameters: starting_after, ending_before."
            raise ApiError(400, _error(message, param="ending_before"))
        if after:
            cursor = _order(self._find(collection, after, "starting_after", 400))
            rows = [o for o in rows if _order(o) < cursor]
        if before:
            cursor = _order(self._find(collection, before, "ending_before", 400))
            rows = [o for o in rows if _order(o) > cursor]
        page = rows[-limit:] if before else rows[:limit]
        data = [self._view(collection, o) for o in page]
        return {"object": "list", "url": f"/v1/{collection}", "has_more": len(rows) > limit, "data": data}

    def _filters(self, collection: str, request: Request) -> list[Callable[[dict], bool]]:
        """What a listed object must satisfy: not deleted, the `created[...]` bounds, the kind's filters."""
        checks = [lambda o: not o.get("deleted")]
        for name, compare in CREATED_OPERATORS.items():
            if (bound := _integer(request, name)) is not None:
                checks.append(lambda o, compare=compare, bound=bound: compare(o["created"], bound))
        for name in EQUALITY_FILTERS:
            if name in KINDS[collection].params and (wanted := request.param(name)) is not None:
                checks.append(lambda o, name=name, wanted=wanted: _as_text(o[name]) == wanted)
        if collection == "subscriptions":
            checks.append(_status_check(request.param("status")))
        if collection == "events":
            oldest = self.now() - EVENT_RETENTION_SECONDS
            types = _array_param(request, "types") or [t for t in [request.param("type")] if t]
            checks.append(lambda o: o["created"] >= oldest and (not types or any(_type_matches(o, t) for t in types)))
        return checks

    def _view(self, collection: str, obj: dict) -> dict:
        """An object as the API returns it: a subscription's items as a list with their prices embedded."""
        if collection != "subscriptions":
            return obj
        data = [self._item_view(item) for item in obj["items"]]
        url = f"/v1/subscription_items?subscription={obj['id']}"
        items = {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}
        return {**obj, "items": items}

    def _item_view(self, item: dict) -> dict:
        if "plan" in item:
            return {**item, "plan": _plan(self._store["prices"][item["plan"]])}
        return {**item, "price": self._store["prices"][item["price"]]}

    # --- changes (each records its event) -----------------------------------------------------

    def add_customer(self, *, created: int | None = None, **fields) -> dict:
        """A new customer (`customer.created`); fields: email, name, phone, address, currency, metadata."""
        with self.lock:
            return self._create("customers", self._customer(created, **fields))

    def update_customer(self, customer_id: str, **changes) -> dict:
        with self.lock:
            return self._change("customers", customer_id, changes)

    def delete_customer(self, customer_id: str) -> dict:
        """Delete a customer; as in Stripe, its running subscriptions are canceled first."""
        with self.lock:
            self._find("customers", customer_id)
            for sub in list(self._store["subscriptions"].values()):
                if sub["customer"] == customer_id and sub["status"] not in ENDED_STATUSES:
                    self.cancel_subscription(sub["id"])
            return self._change("customers", customer_id, {"deleted": True}, "deleted")

    def add_product(self, name: str, *, created: int | None = None, **fields) -> dict:
        with self.lock:
            return self._create("products", self._product(name, created, **fields))

    def update_product(self, product_id: str, **changes) -> dict:
        with self.lock:
            return self._change("products", product_id, {**changes, "updated": self.now()})

    def add_price(self, product: str, currency: str, unit_amount: int | str | Decimal | None = None, **fields) -> dict:
        """A recurring price of `unit_amount` cents (a sub-cent rate as text); `tiers=[(up_to, cents), ...]`
        makes it tiered (`unit_amount` None), the last tier's `up_to` None."""
        with self.lock:
            return self._create("prices", self._price(product, currency, unit_amount, **fields))

    def update_price(self, price_id: str, **changes) -> dict:
        with self.lock:
            return self._change("prices", price_id, changes)

    def add_subscription(self, customer: str, items: Sequence[tuple[str, int | None]], **fields) -> dict:
        """A subscription of `items` (price id, quantity; None for metered prices). Fields: status,
        start_date, created, legacy_plan (items carry only `plan`), metadata, and any subscription
        field to set as is (cancel_at, canceled_at, ended_at, trial_start, trial_end)."""
        with self.lock:
            return self._create("subscriptions", self._subscription(customer, items, **fields))

    def update_subscription(self, subscription_id: str, **changes) -> dict:
        """Change fields; `items=[(price, quantity), ...]` replaces the items (in the same shape)."""
        with self.lock:
            if "items" in changes:
                legacy = any("plan" in item for item in self._find("subscriptions", subscription_id)["items"])
                changes["items"] = self._items(subscription_id, changes["items"], self.now(), legacy)
            return self._change("subscriptions", subscription_id, changes)

    def cancel_subscription(self, subscription_id: str) -> dict:
        """Cancel now: Stripe announces an ended subscription as `customer.subscription.deleted`."""
        with self.lock:
            now = self.now()
            changes = {"status": "canceled", "canceled_at": now, "ended_at": now, "cancel_at": None}
            return self._change("subscriptions", subscription_id, changes, "deleted")

    def _create(self, collection: str, obj: dict) -> dict:
        self._store[collection][obj["id"]] = obj
        view = self._view(collection, obj)
        self._record(f"{KINDS[collection].event_prefix}.created", view)
        return view

    def _change(self, collection: str, object_id: str, changes: dict, verb: str = "updated") -> dict:
        """Replace the object with a changed copy (readers never see one half-changed) and record
        `<kind>.<verb>`; an update carries the old values of what changed (`previous_attributes`).
        Metadata merges as in Stripe: keys set to "" are removed."""
        old = self._find(collection, object_id)
        if old.get("deleted"):
            raise _missing(collection, object_id)
        new = {**old, **changes}
        if "metadata" in changes:
            merged = {**old["metadata"], **changes["metadata"]}
            new["metadata"] = {key: value for key, value in merged.items() if value != ""}
        old_view, new_view = self._view(collection, old), self._view(collection, new)
        self._store[collection][object_id] = new
        previous = {key: value for key, value in old_view.items() if new_view.get(key) != value}
        self._record(f"{KINDS[collection].event_prefix}.{verb}", new_view, previous if verb == "updated" else None)
        return new_view

    def _record(self, event_type: str, snapshot: dict, previous: dict | None = None) -> None:
        data = {"object": snapshot} if previous is None else {"object": snapshot, "previous_attributes": previous}
        event = {
            "id": self._new_id("evt"), "object": "event", "api_version": API_VERSION, "created": self.now(),
            "data": data, "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }  # fmt: skip
        self._store["events"][event["id"]] = event

    # --- the objects --------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        """The next id of a kind: a counter, so the same calls give the same ids."""
        self._ids[prefix] += 1
        return f"{prefix}_{self._ids[prefix]:014d}"

    def _customer(self, created: int | None, *, email: str | None = None, name: str | None = None,
                  phone: str | None = None, address: dict | None = None, currency: str | None = None,
                  metadata: dict | None = None) -> dict:  # fmt: skip
        return {
            "id": self._new_id("cus"), "object": "customer",
            "address": None if address is None else {key: address.get(key) for key in ADDRESS_FIELDS},
            "balance": 0, "created": created or self.now(), "currency": currency and currency.lower(), "delinquent": False,
            "description": None, "email": email, "livemode": False, "metadata": dict(metadata or {}), "name": name,
            "phone": phone, "tax_exempt": "none",
        }  # fmt: skip

    def _product(self, name: str, created: int | None, *, description: str | None = None,
                 metadata: dict | None = None, active: bool = True) -> dict:  # fmt: skip
        created = created or self.now()
        return {
            "id": self._new_id("prod"), "object": "product", "active": active, "created": created,
            "default_price": None, "description": description, "livemode": False, "metadata": dict(metadata or {}),
            "name": name, "type": "service", "updated": created,
        }  # fmt: skip

    def _price(self, product: str, currency: str, unit_amount: int | str | Decimal | None = None, *,
               interval: str = "month", interval_count: int = 1, usage_type: str = "licensed",
               tiers: Sequence[tuple[int | None, int | str | Decimal]] | None = None, tiers_mode: str = "graduated",
               transform_quantity: dict | None = None, nickname: str | None = None, lookup_key: str | None = None,
               metadata: dict | None = None, active: bool = True, created: int | None = None) -> dict:  # fmt: skip
        self._find("products", product, "product", 400)
        amount, decimal = _cents(None if tiers else unit_amount)
        recurring = {"aggregate_usage": "sum" if usage_type == "metered" else None, "interval": interval,
                     "interval_count": interval_count, "meter": None, "usage_type": usage_type}  # fmt: skip
        return {
            "id": self._new_id("price"), "object": "price", "active": active,
            "billing_scheme": "tiered" if tiers else "per_unit", "created": created or self.now(),
            "currency": currency.lower(), "livemode": False, "lookup_key": lookup_key, "metadata": dict(metadata or {}),
            "nickname": nickname, "product": product, "recurring": recurring,
            "tiers": [_tier(up_to, cents) for up_to, cents in tiers] if tiers else None,
            "tiers_mode": tiers_mode if tiers else None, "transform_quantity": transform_quantity,
            "type": "recurring", "unit_amount": amount, "unit_amount_decimal": decimal,
        }  # fmt: skip

    def _subscription(self, customer: str, items: Sequence[tuple[str, int | None]], *, status: str = "active",
                      start_date: int | None = None, created: int | None = None, legacy_plan: bool = False,
                      metadata: dict | None = None, **fields) -> dict:  # fmt: skip
        if status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"not a Stripe subscription status: {status!r}")
        self._find("customers", customer, "customer", 400)
        first_price = self._find("prices", items[0][0], "items", 400)
        subscription_id, created = self._new_id("sub"), created or self.now()
        start = start_date or created
        period = _current_period(start, first_price["recurring"], min(self.now(), fields.get("ended_at") or self.now()))
        subscription = {
            "id": subscription_id, "object": "subscription", "billing_cycle_anchor": start, "cancel_at": None,
            "cancel_at_period_end": False, "canceled_at": None, "collection_method": "charge_automatically",
            "created": created, "currency": first_price["currency"], "current_period_end": period[1],
            "current_period_start": period[0], "customer": customer, "ended_at": None,
            "items": self._items(subscription_id, items, created, legacy_plan), "livemode": False,
            "metadata": dict(metadata or {}), "start_date": start, "status": status, "trial_end": None,
            "trial_start": None,
        }  # fmt: skip
        if unknown := set(fields) - set(subscription):
            raise TypeError(f"not subscription fields: {sorted(unknown)}")
        return {**subscription, **fields}

    def _items(self, subscription_id: str, items: Sequence[tuple[str, int | None]], created: int,
               legacy_plan: bool) -> list[dict]:  # fmt: skip
        """Stored items name their price by id (rendered in full by `_item_view`); a metered item has no quantity."""
        price_key = "plan" if legacy_plan else "price"
        return [
            {"id": self._new_id("si"), "object": "subscription_item", "created": created, "metadata": {},
             price_key: self._find("prices", price_id, "items", 400)["id"], "subscription": subscription_id,
             **({} if quantity is None else {"quantity": quantity})}
            for price_id, quantity in items
        ]  # fmt: skip

    def objects(self, collection: str) -> list[dict]:
        """Every stored object of a collection (deleted customers too, flagged `deleted`)."""
        with self.lock:
            return [dict(obj) for obj in self._store[collection].values()]

    # --- the sandbox company ------------------------------------------------------------------

    def seed_from_sandbox(
        self,
        accounts: Sequence[generate.Account],
        subscriptions: Sequence[generate.Subscription],
        items: Sequence[generate.Item],
        *,
        external_id_share: float = 0.9,
    ) -> None:
        """Fill the stand-in with the sandbox company as its Stripe account holds it, recording no
        events (that history is older than the event window anyway). One product per product code,
        one price per (code, currency); one customer per account, carrying the app's key in
        `metadata.external_id` for an evenly spread `external_id_share` of them (the rest have no
        matching key and stay their own customers); deleted accounts are deleted customers;
        statuses map by SANDBOX_STATUS and LEGACY_PLAN_SHARE of subscriptions have `plan`-only items."""
        with self.lock:
            catalogue_created = _unix(min(account.created_at for account in accounts))
            products, prices = {}, {}
            for item in items:
                product, currency = item.product, item.subscription.account.profile.currency
                if product.code not in products:
                    products[product.code] = self._store_seeded("products", self._product(
                        product.name, catalogue_created, metadata={"code": product.code}))  # fmt: skip
                if (product.code, currency) not in prices:
                    price = self._sandbox_price(products[product.code], product, currency, catalogue_created)
                    prices[product.code, currency] = self._store_seeded("prices", price)
            customers = {
                account.id: self._store_seeded("customers", self._sandbox_customer(account, _picked(n, external_id_share)))
                for n, account in enumerate(accounts)
            }  # fmt: skip
            items_of = defaultdict(list)
            for item in items:
                currency = item.subscription.account.profile.currency
                quantity = 1 if item.product.metric is None else None
                items_of[item.subscription.id].append((prices[item.product.code, currency], quantity))
            for n, sub in enumerate(subscriptions):
                legacy_plan = _picked(n, LEGACY_PLAN_SHARE)
                subscription = self._sandbox_subscription(sub, customers[sub.account.id], items_of[sub.id], legacy_plan)
                self._store_seeded("subscriptions", subscription)

    def _store_seeded(self, collection: str, obj: dict) -> str:
        self._store[collection][obj["id"]] = obj
        return obj["id"]

    def _sandbox_price(self, product_id: str, product: generate.Product, currency: str, created: int) -> dict:
        """A product's price in `currency`: flat fees licensed, add-ons metered; tiered and volume
        pricing as one open-ended tier at the app's unit rate, package pricing per 100 units."""
        interval, interval_count = SANDBOX_INTERVAL[product.interval]
        cents = Decimal(str(generate._local_price(product, currency))) * 100
        tiered = product.pricing_model in ("tiered", "volume")
        return self._price(
            product_id, currency, cents, interval=interval, interval_count=interval_count,
            usage_type="licensed" if product.metric is None else "metered",
            tiers=[(None, cents)] if tiered else None, tiers_mode="volume" if product.pricing_model == "volume" else "graduated",
            transform_quantity={"divide_by": 100, "round": "up"} if product.pricing_model == "package" else None,
            nickname=f"{product.name} ({currency})", lookup_key=f"{product.code}_{currency}".lower(), created=created,
        )  # fmt: skip

    def _sandbox_customer(self, account: generate.Account, with_external_id: bool) -> dict:
        p = account.profile
        address = {"line1": p.line1, "line2": p.line2, "city": p.city, "state": p.state,
                   "postal_code": p.postal_code, "country": p.country}  # fmt: skip
        customer = self._customer(
            _unix(account.created_at), email=p.email, name=p.name, phone=p.phone, address=address,
            currency=p.currency, metadata={"external_id": p.external_id} if with_external_id else {},
        )  # fmt: skip
        return {**customer, "deleted": True} if account.deleted_at else customer

    def _sandbox_subscription(self, sub: generate.Subscription, customer: str, items: list, legacy_plan: bool) -> dict:
        """A generator subscription in Stripe's terms: an ended term is canceled at its end date, a
        trial runs to its end date, a term that will not renew is set to cancel at its end; a
        deleted account's running subscription was canceled when it was deleted (Stripe cancels a
        deleted customer's subscriptions)."""
        status, start = SANDBOX_STATUS[sub.status], _unix(sub.start_date)
        fields = {}
        if sub.account.deleted_at and status not in ENDED_STATUSES:
            deleted = max(_unix(sub.account.deleted_at), start)
            status, fields = "canceled", {"canceled_at": deleted, "ended_at": deleted}
        elif status == "canceled":
            fields = {"canceled_at": _unix(sub.end_date), "ended_at": _unix(sub.end_date)}
        elif status == "trialing":
            fields = {"trial_start": start, "trial_end": _unix(sub.end_date)}
        elif sub.end_date and sub.renewal_policy == "none":
            fields = {"cancel_at": _unix(sub.end_date), "cancel_at_period_end": True}
        created = max(start, self._store["customers"][customer]["created"])
        return self._subscription(
            customer, items, status=status, start_date=start, created=created, legacy_plan=legacy_plan, **fields
        )


def _expansions(request: Request) -> set[str]:
    """The `expand[]` paths of a request; more than four levels is Stripe's 400."""
    paths = set(request.params("expand[]"))
    for path in paths:
        if path.count(".") >= MAX_EXPAND_LEVELS:
            message = f"You cannot expand more than {MAX_EXPAND_LEVELS} levels of a property. Property: {path}"
            raise ApiError(400, _error(message, param="expand"))
    return paths


def _expanded(collection: str, view: dict, expand: set[str], prefix: str) -> dict:
    """A view as served: a price's `tiers` (on its own, or on an item's price or plan) only where
    `expand` names it, under `prefix` (`data.` in a list)."""
    if collection == "prices":
        return view if f"{prefix}tiers" in expand else _without_tiers(view)
    if collection != "subscriptions":
        return view
    data = [
        {**item, **{
            holder: _without_tiers(item[holder]) for holder in ("price", "plan")
            if holder in item and f"{prefix}items.data.{holder}.tiers" not in expand
        }}
        for item in view["items"]["data"]
    ]  # fmt: skip
    return {**view, "items": {**view["items"], "data": data}}


def _without_tiers(price: dict) -> dict:
    return {key: value for key, value in price.items() if key != "tiers"}


def _status_check(status: str | None) -> Callable[[dict], bool]:
    """`status` of `GET /v1/subscriptions`: none leaves out ended ones, `all` keeps every one."""
    if status is None:
        return lambda o: o["status"] not in ENDED_STATUSES
    if status == "all":
        return lambda o: True
    if status == "ended":
        return lambda o: o["status"] in ENDED_STATUSES
    if status not in SUBSCRIPTION_STATUSES:
        raise ApiError(400, _error(f"Invalid status: must be one of {', '.join(SUBSCRIPTION_STATUSES)}, all or ended", param="status"))  # fmt: skip
    return lambda o: o["status"] == status


def _type_matches(event: dict, pattern: str) -> bool:
    """An event `type` filter: exact, or a prefix ending in `*` (`customer.*`)."""
    return event["type"].startswith(pattern[:-1]) if pattern.endswith("*") else event["type"] == pattern


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a Stripe stand-in until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m billing_pipelines.sandbox.stripe_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default="sk_test_standin")
    parser.add_argument("--demo", action="store_true", help="seed a small generated company")
    args = parser.parse_args(argv)
    standin = StripeStandin(api_key=args.api_key)
    if args.demo:
        standin.seed_from_sandbox(*generate.app_company(datetime.now(UTC).date(), accounts=30))
    print(f"Stripe stand-in on http://{args.host}:{args.port} (API key {args.api_key}); Ctrl-C stops it")
    standin.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
