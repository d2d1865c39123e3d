"""A local HubSpot CRM (v3 objects, v4 associations) for the sandbox and the tests of the HubSpot sync.

The billing pipelines read HubSpot's companies (customers), deals (contracts), line items (contract
items) and products (the price list): incrementally through a search sorted by
`hs_lastmodifieddate`, then each deal's company and line items through the v4 associations batch
read. This stand-in keeps those objects in memory and answers as HubSpot does, including what makes
a sync hard: the search's 10,000-result ceiling (a 400 past it), its secondly rate limit (a 429 with
`Retry-After: 1`), archived records that leave list and search without a new
`hs_lastmodifieddate`, and associations reads that answer 207 for inputs without associations.

Where HubSpot's documentation leaves a detail open, the stand-in chooses (and says so where it does):
the default properties per object type (DEFAULT_PROPERTIES), the association type ids
(ASSOCIATION_TYPES), the wording of the 400 past the search ceiling, and that a requested property
a record lacks comes back as null.

    python -m billing_pipelines.sandbox.hubspot_standin --port 12112
"""

from __future__ import annotations

import argparse
import operator
import re
import time
import uuid
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from billing_pipelines.sandbox.generate import (
    Account,
    Item,
    Product,
    Subscription,
    _local_price,
    app_company,
)
from billing_pipelines.sandbox.http_standin import ApiError, HttpStandin, Request, Response

OBJECT_TYPES = {"companies": "company", "deals": "deal", "line_items": "line_item", "products": "product"}
"""The object types a billing sync reads, with the singular name HubSpot's messages use."""
TYPE_IDS = {"0-2": "companies", "0-3": "deals", "0-8": "line_items", "0-7": "products"}
ALWAYS_RETURNED = ("hs_object_id", "createdate", "hs_lastmodifieddate")
DEFAULT_PROPERTIES = {
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
    "line_items": ("name", "price", "quantity", "amount", "hs_product_id"),
    "products": ("name", "price", "description"),
}
"""What HubSpot returns besides ALWAYS_RETURNED when a request names no properties (approximated
from its answers; the exact set varies by portal)."""
ASSOCIATION_TYPES = {
    ("deals", "companies"): ((5, "Primary"), (341, None)),
    ("companies", "deals"): ((6, "Primary"), (342, None)),
    ("deals", "line_items"): ((19, None),),
    ("line_items", "deals"): ((20, None),),
}
"""HubSpot-defined association types per direction: a deal's company is its primary company."""
LIST_LIMIT_MAX, SEARCH_LIMIT_MAX, DEFAULT_LIMIT = 100, 200, 10
SEARCH_RESULT_CAP = 10_000
"""A search never pages past its 10,000th result: `after` + `limit` beyond it is a 400."""
ASSOCIATION_INPUTS_MAX = 1_000
BILLING_FREQUENCY = {"P1M": "monthly", "P3M": "quarterly", "P1Y": "annually"}
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more"
    " details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SECONDLY_LIMIT_REACHED = {
    "status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
    "policyName": "SECONDLY", "groupName": "publicapi:search",
}  # fmt: skip
"""The 429 body of HubSpot's search rate limit (its `correlationId` is added per answer)."""
COMPARISONS = {"EQ": operator.eq, "NEQ": operator.ne, "LT": operator.lt, "LTE": operator.le}
COMPARISONS |= {"GT": operator.gt, "GTE": operator.ge}
ERROR_CATEGORIES = {
    400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
}  # fmt: skip
SPREAD = 0.6180339887498949  # the golden ratio's fraction: `id * SPREAD mod 1` spreads ids evenly over [0, 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Moment = datetime | int
"""A point in time as seeding gives it: a datetime (naive = UTC) or epoch milliseconds."""


@dataclass
class _Record:
    """One CRM object: its own properties as strings, and the timestamps HubSpot keeps beside them."""

    id: int
    properties: dict[str, str | None]
    created_ms: int
    modified_ms: int
    archived_ms: int | None = None

    def value(self, name: str) -> str | int | None:
        """A property as a search compares it: HubSpot's own timestamps in epoch milliseconds."""
        if name == "hs_lastmodifieddate":
            return self.modified_ms
        if name in ("hs_object_id", "createdate"):
            return self.id if name == "hs_object_id" else self.created_ms
        return self.properties.get(name)

    def render(self, names: Iterable[str]) -> dict:
        """The record as HubSpot's API shows it, with the properties `names`."""
        created, modified, archived = _iso(self.created_ms), _iso(self.modified_ms), self.archived_ms is not None
        own = {"hs_object_id": str(self.id), "createdate": created, "hs_lastmodifieddate": modified}
        properties = {name: own[name] if name in own else self.properties.get(name) for name in names}
        shown = {"id": str(self.id), "properties": properties, "createdAt": created, "updatedAt": modified}
        shown["archived"] = archived
        if archived:
            shown["archivedAt"] = _iso(self.archived_ms)
        return shown


ROUTES = (
    ("GET", re.compile(r"/crm/v3/objects/([\w-]+)"), "_list"),
    ("GET", re.compile(r"/crm/v3/objects/([\w-]+)/(\d+)"), "_read"),
    ("POST", re.compile(r"/crm/v3/objects/([\w-]+)/search"), "_search"),
    ("POST", re.compile(r"/crm/v4/associations/([\w-]+)/([\w-]+)/batch/read"), "_read_associations"),
)


class HubSpotStandin(HttpStandin):
    """A HubSpot portal reached with one private-app token. Ids are increasing integers in the order
    objects are added; `now` (seconds, like `time.time`) stamps changes and paces the search limit."""

    def __init__(
        self, token: str = "pat-standin", search_per_second: float = 4.0, now: Callable[[], float] | None = None
    ) -> None:
        super().__init__()
        self.token = token
        self.search_per_second = search_per_second
        self.now = now or time.time
        self._records: dict[str, dict[int, _Record]] = {name: {} for name in OBJECT_TYPES}
        self._ids: dict[str, list[int]] = {name: [] for name in OBJECT_TYPES}  # ascending: ids only grow
        self._links: dict[tuple[str, str], dict[int, list[int]]] = {pair: {} for pair in ASSOCIATION_TYPES}
        self._next_id = 1
        self._searches: deque[float] = deque()

    # --- changing the portal (what the CRM's users do) ----------------------------------------

    def add(
        self, object_type: str, properties: dict, *, created: Moment | None = None, modified: Moment | None = None
    ) -> str:
        """Create an object; `created`/`modified` backdate it (seeding), else both are now."""
        object_type = _object_type(object_type)
        with self.lock:
            now = self._now_ms()
            created_ms = now if created is None else _ms(created)
            modified_ms = max(created_ms, now) if modified is None else _ms(modified)
            record = _Record(self._next_id, {k: _text(v) for k, v in properties.items()}, created_ms, modified_ms)
            self._next_id += 1
            self._records[object_type][record.id] = record
            self._ids[object_type].append(record.id)
            return str(record.id)

    def update(self, object_type: str, object_id: str, **properties: object) -> None:
        """Edit an object's properties, as a user would: `hs_lastmodifieddate` becomes now."""
        with self.lock:
            record = self._records[_object_type(object_type)][int(object_id)]
            record.properties.update({k: _text(v) for k, v in properties.items()})
            record.modified_ms = self._now_ms()

    def archive(self, object_type: str, object_id: str, *, at: Moment | None = None) -> None:
        """Delete an object (HubSpot archives it): it leaves list and search, keeping its `hs_lastmodifieddate`."""
        with self.lock:
            record = self._records[_object_type(object_type)][int(object_id)]
            record.archived_ms = self._now_ms() if at is None else _ms(at)

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Link two objects (both directions), e.g. a deal to its company or to one of its line items."""
        pair = (_object_type(from_type), _object_type(to_type))
        if pair not in ASSOCIATION_TYPES:
            raise ValueError(f"the stand-in does not associate {pair[0]} with {pair[1]}")
        with self.lock:
            for (source, target), (source_id, target_id) in ((pair, (from_id, to_id)), (pair[::-1], (to_id, from_id))):
                linked = self._links[source, target].setdefault(int(source_id), [])
                if int(target_id) not in linked:
                    linked.append(int(target_id))

    def records(self, object_type: str, *, archived: bool = False) -> dict[str, dict]:
        """The properties of every live (or every archived) record of a type, by id."""
        with self.lock:
            return {
                str(record.id): dict(record.properties)
                for record in self._records[_object_type(object_type)].values()
                if (record.archived_ms is not None) == archived
            }

    def associated(self, from_type: str, to_type: str) -> dict[str, list[str]]:
        """Each live record's live associated records, by id: what the associations API serves."""
        live_from, live_to = self.records(from_type), self.records(to_type)
        with self.lock:
            links = self._links.get((_object_type(from_type), _object_type(to_type)), {})
            return {
                str(source): [str(t) for t in targets if str(t) in live_to]
                for source, targets in links.items()
                if str(source) in live_from
            }

    def add_companies(self, count: int, *, modified_start: Moment, modified_step_ms: int = 1_000) -> list[str]:
        """`count` synthetic companies modified `modified_step_ms` apart: a portal past the search ceiling."""
        moments = [_ms(modified_start) + n * modified_step_ms for n in range(count)]
        return [self.add("companies", {"name": f"Synthetic {n}"}, created=m, modified=m) for n, m in enumerate(moments)]

    def seed_from_sandbox(
        self,
        accounts: list[Account],
        subscriptions: list[Subscription],
        items: list[Item],
        *,
        external_id_property: str = "external_customer_id",
        contract_start_property: str = "contract_start_date__zenskar_",
        contract_end_property: str = "contract_end_date__zenskar_",
        external_id_share: float = 0.85,
    ) -> None:
        """Fill the portal from the sandbox company: accounts become companies (deleted ones archived;
        only `external_id_share` of them, spread evenly, carry the app's external id), subscriptions
        become closed-won deals with their contract dates, items their line items, and each product
        code one product. Deleted subscriptions are archived deals, with their line items."""
        companies = {
            account.id: self._add_company(account, external_id_property, external_id_share) for account in accounts
        }
        products: dict[str, str] = {}
        for item in items:
            if item.product.code not in products:
                products[item.product.code] = self.add("products", _product_properties(item.product))
        deals = {}
        for subscription in subscriptions:
            properties = _deal_properties(subscription, contract_start_property, contract_end_property)
            deal = self.add("deals", properties, created=_signed(subscription), modified=subscription.updated_at)
            self.associate("deals", deal, "companies", companies[subscription.account.id])
            if subscription.deleted_at is not None:
                self.archive("deals", deal, at=subscription.deleted_at)
            deals[subscription.id] = deal
        for item in items:
            subscription = item.subscription
            properties = _line_item_properties(item, products[item.product.code])
            line_item = self.add(
                "line_items", properties, created=_signed(subscription), modified=subscription.updated_at
            )
            self.associate("deals", deals[subscription.id], "line_items", line_item)
            if subscription.deleted_at is not None:
                self.archive("line_items", line_item, at=subscription.deleted_at)

    def _add_company(self, account: Account, external_id_property: str, share: float) -> str:
        properties = _company_properties(account)
        if (account.id * SPREAD) % 1.0 < share:
            properties[external_id_property] = account.profile.external_id
        company = self.add("companies", properties, created=account.created_at, modified=account.updated_at)
        if account.deleted_at is not None:
            self.archive("companies", company, at=account.deleted_at)
        return company

    # --- the HTTP API -------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> object:
        return _error_body(status, message)

    def handle(self, request: Request) -> Response:
        if request.bearer_token != self.token:
            raise _api_error(401, AUTH_MESSAGE)
        for method, pattern, answer in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and request.method == method:
                with self.lock:
                    return getattr(self, answer)(request, *match.groups())
        raise _api_error(404, f"No route for {request.method} {request.path}")

    def _list(self, request: Request, type_name: str) -> Response:
        """A page of live (or, with `archived=true`, only archived) objects in id order."""
        object_type = _path_type(type_name)
        limit = _bounded(request.param("limit"), DEFAULT_LIMIT, LIST_LIMIT_MAX, "limit")
        after = _bounded(request.param("after"), 0, None, "after")
        archived = request.param("archived", "false").lower() == "true"
        names = _property_names(object_type, _requested_properties(request))
        ids, records = self._ids[object_type], self._records[object_type]
        page, cursor = [], None
        for object_id in ids[bisect_left(ids, after) :]:
            record = records[object_id]
            if (record.archived_ms is not None) != archived:
                continue
            if len(page) == limit:
                cursor = str(object_id)
                break
            page.append(record.render(names))
        body: dict = {"results": page}
        if cursor is not None:
            query = {key: values[0] for key, values in request.query.items()} | {"after": cursor}
            link = f"http://{request.headers.get('host', 'api.hubapi.com')}{request.path}?{urlencode(query)}"
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return Response(200, body)

    def _read(self, request: Request, type_name: str, object_id: str) -> Response:
        object_type = _path_type(type_name)
        record = self._records[object_type].get(int(object_id))
        archived = request.param("archived", "false").lower() == "true"
        if record is None or (record.archived_ms is not None) != archived:
            raise _api_error(404, f"Object not found.  objectId are usually numeric. ({object_id})")
        return Response(200, record.render(_property_names(object_type, _requested_properties(request))))

    def _search(self, request: Request, type_name: str) -> Response:
        """Live objects matching any filter group (all filters of a group), sorted, by offset."""
        object_type = _path_type(type_name)
        self._admit_search()
        query = _json_object(request)
        limit = _bounded(query.get("limit"), DEFAULT_LIMIT, SEARCH_LIMIT_MAX, "limit")
        offset = _bounded(query.get("after"), 0, None, "after")
        if offset + limit > SEARCH_RESULT_CAP:
            raise _api_error(400, f"Search results stop at {SEARCH_RESULT_CAP}: after + limit is {offset + limit}")
        groups = [[_filter(spec) for spec in group.get("filters", [])] for group in query.get("filterGroups") or []]
        matches = [
            record
            for record in self._records[object_type].values()
            if record.archived_ms is None and (not groups or any(all(p(record) for p in group) for group in groups))
        ]
        for sort in reversed(query.get("sorts") or []):  # stable sorts, last key first; id order breaks ties
            name, descending = sort.get("propertyName", ""), sort.get("direction") == "DESCENDING"
            matches.sort(key=lambda record: _sort_key(record.value(name)), reverse=descending)
        names = _property_names(object_type, query.get("properties") or [])
        body: dict = {"total": len(matches), "results": [r.render(names) for r in matches[offset : offset + limit]]}
        if offset + limit < len(matches):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, body)

    def _read_associations(self, request: Request, from_name: str, to_name: str) -> Response:
        """Each input's live associated objects; inputs without any are errors of a 207 answer."""
        pair = (_path_type(from_name), _path_type(to_name))
        started = _iso(self._now_ms())
        inputs = _json_object(request).get("inputs")
        if not isinstance(inputs, list):
            raise _api_error(400, "Invalid input JSON: inputs must be a list")
        if len(inputs) > ASSOCIATION_INPUTS_MAX:
            raise _api_error(400, f"Too many inputs: {len(inputs)}, at most {ASSOCIATION_INPUTS_MAX}")
        kinds = [
            {"category": "HUBSPOT_DEFINED", "typeId": i, "label": name} for i, name in ASSOCIATION_TYPES.get(pair, ())
        ]
        results, errors = [], []
        for entry in inputs:
            from_id = str(entry.get("id", ""))
            targets = self._links.get(pair, {}).get(int(from_id), []) if from_id.isdigit() else []
            live = [t for t in targets if self._records[pair[1]][t].archived_ms is None]
            if live:
                results.append(
                    {"from": {"id": from_id}, "to": [{"toObjectId": t, "associationTypes": kinds} for t in live]}
                )
            else:
                errors.append(_no_associations(pair, from_id))
        body: dict = {"status": "COMPLETE", "results": results, "startedAt": started}
        body["completedAt"] = _iso(self._now_ms())
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
        return Response(207 if errors else 200, body)

    # --- helpers ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return round(self.now() * 1000)

    def _admit_search(self) -> None:
        """Count a search against the rolling one-second window, or refuse it with a 429."""
        now = self.now()
        while self._searches and now - self._searches[0] >= 1.0:
            self._searches.popleft()
        if len(self._searches) >= self.search_per_second:
            raise ApiError(429, _error_body(429, "secondly limit"), {"Retry-After": "1"})
        self._searches.append(now)


def _error_body(status: int, message: str) -> dict:
    """HubSpot's error body; a 429 is always the search's secondly-limit policy answer."""
    correlation = {"correlationId": str(uuid.uuid4())}
    if status == 429:
        return SECONDLY_LIMIT_REACHED | correlation
    category = {"category": ERROR_CATEGORIES[status]} if status in ERROR_CATEGORIES else {}
    return {"status": "error", "message": message, **correlation, **category}


def _json_object(request: Request) -> dict:
    """A request's JSON body, which must be an object, or HubSpot's 400 for invalid input JSON."""
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _api_error(400, "Invalid input JSON: the body must be a JSON object")
    return body


def _path_type(name: str) -> str:
    """The object type a request's path names, or HubSpot's 400 for a type it does not know."""
    try:
        return _object_type(name)
    except ValueError:
        raise _api_error(400, f"Unable to infer object type from: {name}") from None


def _filter(spec: dict) -> Callable[[_Record], bool]:
    """One search filter as a test of a record; numbers, dates and timestamps compare as numbers."""
    name, op = spec.get("propertyName", ""), spec.get("operator", "EQ")
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return lambda record: (record.value(name) not in (None, "")) == (op == "HAS_PROPERTY")
    if op == "IN":
        wanted = {_comparable(value) for value in spec.get("values", [])}
        return lambda record: _comparable(record.value(name)) in wanted
    if op == "BETWEEN":
        low, high = _comparable(spec.get("value")), _comparable(spec.get("highValue"))
        return lambda record: (
            _compare(operator.ge, record.value(name), low) and _compare(operator.le, record.value(name), high)
        )
    if op not in COMPARISONS:
        raise _api_error(400, f"Unknown filter operator: {op}")
    target = _comparable(spec.get("value"))
    return lambda record: _compare(COMPARISONS[op], record.value(name), target)


def _api_error(status: int, message: str) -> ApiError:
    return ApiError(status, _error_body(status, message))


def _object_type(name: str) -> str:
    """The plural object type for `companies`, `company` or `0-2` (HubSpot accepts all three)."""
    plural = TYPE_IDS.get(name) or next((p for p, singular in OBJECT_TYPES.items() if name in (p, singular)), None)
    if plural is None:
        raise ValueError(f"unknown HubSpot object type {name!r}")
    return plural


def _property_names(object_type: str, requested: list[str]) -> list[str]:
    """The properties an answer shows: those requested (or the type's defaults), plus HubSpot's own."""
    return list(dict.fromkeys([*(requested or DEFAULT_PROPERTIES[object_type]), *ALWAYS_RETURNED]))


def _requested_properties(request: Request) -> list[str]:
    """`properties=a,b` (or repeated `properties=`) of a list or read request."""
    return [name for value in request.params("properties") for name in value.split(",") if name]


def _bounded(raw: object, default: int, maximum: int | None, name: str) -> int:
    """A non-negative integer parameter (query text or JSON number), or the 400 HubSpot gives."""
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise _api_error(400, f"{name}: must be an integer, got {raw!r}") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise _api_error(400, f"{name}: must be between 0 and {maximum}, got {value}")
    return value


def _comparable(value: object) -> tuple | None:
    """A value as a filter or sort compares it: numbers, ISO dates and timestamps (as epoch ms) by
    value, other text case-insensitively; None for an unset property."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return (0, value)
    text = str(value).strip()
    try:
        return (0, float(text))
    except ValueError:
        pass
    try:
        return (0, _ms(datetime.fromisoformat(text.replace("Z", "+00:00"))))
    except ValueError:
        return (1, text.lower())


def _compare(compare: Callable[[object, object], bool], value: object, target: tuple | None) -> bool:
    """`compare` of a record's value with a filter's; an unset or other-kind value only passes NEQ."""
    mine = _comparable(value)
    if mine is None or target is None or mine[0] != target[0]:
        return compare is operator.ne
    return compare(mine, target)


def _sort_key(value: object) -> tuple:
    """Sort order of a property: unset values first, then numbers, then text."""
    comparable = _comparable(value)
    return (0,) if comparable is None else (1, *comparable)


def _no_associations(pair: tuple[str, str], from_id: str) -> dict:
    """The per-input error of an associations read for an object with no (live) associations."""
    source, target = OBJECT_TYPES[pair[0]], OBJECT_TYPES[pair[1]]
    return {
        "status": "error", "category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No {target} is associated with {source} {from_id}.",
        "context": {"fromObjectId": [from_id], "fromObjectType": [source], "toObjectType": [target]},
    }  # fmt: skip


def _company_properties(account: Account) -> dict:
    """An account as the company sales keeps: its name, web domain, phone and billing address."""
    p = account.profile
    return {
        "name": p.name, "domain": p.email.partition("@")[2], "phone": p.phone, "address": p.line1,
        "address2": p.line2, "city": p.city, "state": p.state, "zip": p.postal_code, "country": p.country,
    }  # fmt: skip


def _product_properties(product: Product) -> dict:
    """A price-list entry as a HubSpot product, priced in US dollars."""
    return {
        "name": product.name, "price": product.usd_price, "hs_sku": product.code,
        "recurringbillingfrequency": BILLING_FREQUENCY[product.interval],
    }  # fmt: skip


def _deal_properties(subscription: Subscription, start_property: str, end_property: str) -> dict:
    """A subscription as the won deal sales closed: the plan's fee in the customer's currency and
    the contract term in the (Zenskar-style) custom date properties."""
    account, plan = subscription.account, subscription.plan
    return {
        "dealname": f"{account.profile.name} - {plan.name}", "amount": _local_price(plan, account.profile.currency),
        "dealstage": "closedwon", "pipeline": "default", "closedate": _iso(_ms(_midnight(subscription.start_date))),
        start_property: subscription.start_date.isoformat(),
        end_property: subscription.end_date.isoformat() if subscription.end_date else None,
        "deal_currency_code": account.profile.currency,
    }  # fmt: skip


def _line_item_properties(item: Item, product_id: str) -> dict:
    """A subscription item as a deal's line item; metered add-ons have no fixed quantity."""
    product, subscription = item.product, item.subscription
    return {
        "name": product.name, "price": _local_price(product, subscription.account.profile.currency),
        "quantity": 1 if product.metric is None else None, "hs_product_id": product_id, "hs_sku": product.code,
        "recurringbillingfrequency": BILLING_FREQUENCY[product.interval],
        "hs_recurring_billing_start_date": subscription.start_date.isoformat(),
    }  # fmt: skip


def _text(value: object) -> str | None:
    """A property value as HubSpot stores it: text (whole numbers without `.0`), or None when unset."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ms(moment: Moment) -> int:
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return (aware - EPOCH) // timedelta(milliseconds=1)
    return int(moment)


def _iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes timestamps: `2024-05-01T07:10:12.688Z`."""
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _signed(subscription: Subscription) -> int:
    """When a subscription's deal was created: its start day, or its last change if that came first."""
    return min(_ms(_midnight(subscription.start_date)), _ms(subscription.updated_at))


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a HubSpot portal seeded with a small generated company until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m billing_pipelines.sandbox.hubspot_standin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--token", default="pat-standin", help="the private-app token requests must bear")
    parser.add_argument("--accounts", type=int, default=20, help="accounts of the generated company (0: empty)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    standin = HubSpotStandin(token=args.token)
    if args.accounts > 0:
        standin.seed_from_sandbox(*app_company(datetime.now(UTC).date(), args.seed, args.accounts))
    print(f"HubSpot stand-in on http://{args.host}:{args.port} ({args.accounts} accounts); Ctrl-C stops it")
    standin.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
