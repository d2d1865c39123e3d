"""Reading a HubSpot portal: companies (customers), deals (contracts), their line items, products
(the price list), and which company and line items each deal has.

The first sync lists every record of a type. Every later sync asks the search API for what was
modified since the type's cursor, oldest change first. A search never pages past its 10,000th
result, so each page is a new search from the last modification time read (the records of that
millisecond already read are skipped), which reads any number of changes, and does not lose one
when a record read earlier is edited mid-sync and the results shift. Only when a whole page
shares one millisecond (a bulk import) is that search paged on by offset; should 10,000 results
share it, no search can get past them, and that type is listed whole instead.

The cursor is the time the sync started, less a margin: HubSpot's search index lags a record's
change by a few seconds, so a change made while a sync runs, or just before, is read again by the
next one rather than missed. Each type keeps its own cursor in dlt's state, committed only with a
successful load: a run that fails moves no cursor.

Deleting a record archives it without touching its `hs_lastmodifieddate`, so search never sees it:
every sync also lists the type's archived records (the list cannot filter them), and loads those
archived since its cursor (all of them on the first sync), which land with `archived = true` (and
their last properties), for the canonical model to mark deleted. With nothing changed a sync makes
one search and one request per hundred archived records of each type.

The deals a sync loads have their company and line items read again (v4 associations, a thousand
deals a request) into `deal_companies` and `deal_line_items`, one row per pair. A deal read again
replaces all its pairs (delete-insert on `deal_id`), so a deal moved to another company keeps no
old pair, and one left with none loses them. HubSpot may not count an association change as a
change of the deal: a deal re-linked and not edited is only re-read once it changes.

A run may load only some of the raw tables (the raw assets a Dagster run selects). A read's
cursor moves only when the run loads every table the read feeds: a run that loads only
`deal_companies` still reads the deals (their pairs need them) but leaves the deals' cursor where
it was, and so does one that loads the deals without their pairs, whose pairs would otherwise
never be read for the deals it loaded.

Beside the records as delivered, a few fixed-name columns carry what billing.yaml names per
portal, so staging never needs the portal's own property names: `billing_external_id` on
companies (the company's own customer id, from `external_id_property`), `billing_contract_start`
and `billing_contract_end` on deals (from the contract-date properties), `billing_start_date` and
`billing_end_date` on line items (their recurring-billing dates). The dates are ISO days: HubSpot
writes a date property as `YYYY-MM-DD`, older integrations as epoch milliseconds of midnight UTC;
anything else is kept as written, for staging to reject.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dlt
import requests
from dlt.extract.source import DltSource

from billing_pipelines.config import HubSpotSourceConfig
from billing_pipelines.lib.dlt_selection import loads_all
from billing_pipelines.lib.http_client import (
    ApiClient,
    BearerTokenFromEnv,
    RequestBudget,
    RetryPolicy,
    SourceRequestError,
)

OBJECTS = ("companies", "deals", "line_items", "products")
"""What a HubSpot sync reads, each into a raw table of that name merged on `id`."""
BILLING_PROPERTIES = {
    "companies": ("name", "domain", "phone", "address", "address2", "city", "state", "zip", "country"),
    "deals": ("dealname", "amount", "dealstage", "closedate", "deal_currency_code", "pipeline"),
    "line_items": (
        "name", "price", "quantity", "hs_product_id", "hs_sku", "recurringbillingfrequency",
        "hs_recurring_billing_start_date", "hs_recurring_billing_end_date",
    ),
    "products": ("name", "price", "hs_sku", "recurringbillingfrequency"),
}  # fmt: skip
"""The properties billing needs of each type (HubSpot returns only those asked for), besides the
portal's own external-id and contract-date properties (`requested_properties`)."""
ASSOCIATED = {"deal_companies": ("companies", "company_id"), "deal_line_items": ("line_items", "line_item_id")}
"""The pairs read for each loaded deal: table -> (associated type, its id column)."""
TABLES = (*OBJECTS, *ASSOCIATED)
"""The raw tables of a HubSpot source: the records of each type, and the pairs of each deal."""
FEEDS = {object_type: (object_type,) for object_type in OBJECTS} | {"deals": ("deals", *ASSOCIATED)}
"""The raw tables each type's read feeds: the deals also feed their pairs."""
TABLE_MEANING = {
    "companies": "who pays: HubSpot companies, with the company's own id in a property (archived ones flagged)",
    "deals": "what each customer agreed to: stage, currency and the contract's term",
    "line_items": "the priced lines of each deal: product, unit price, quantity and billing frequency",
    "products": "what is sold: the product library the line items point to",
    "deal_companies": "which companies each deal has, the billed one marked primary",
    "deal_line_items": "which line items each deal has",
}
BILLING_KEY = "billing_external_id"
"""The column of raw companies holding the company's own customer id (staging's external_id)."""
PRIMARY_ASSOCIATION_LABEL = "Primary"
"""The label HubSpot gives a deal's primary company: the one billed."""
NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"
"""The per-deal error of a 207 associations answer that means "none", not a failure."""
LIST_PAGE_SIZE = 100  # the most a list page holds
SEARCH_PAGE_SIZE = 200  # the most a search page holds
SEARCH_RESULT_CAP = 10_000
"""A search answers no page past its 10,000th result (a 400)."""
ASSOCIATION_BATCH = 1_000
"""The most deals one associations read takes; records are yielded in batches of this size."""
SEARCH_REQUESTS_PER_SECOND = 4.0
"""HubSpot's search limit per account (the config's `search_requests_per_second`)."""
VISIBILITY_MARGIN_MS = 5 * 60 * 1000
"""How far back of its start a sync's cursor is set: search sees a change a few seconds late."""


def requested_properties(
    external_id_property: str, contract_start_property: str, contract_end_property: str
) -> dict[str, tuple[str, ...]]:
    """Per type, the properties a sync asks for: the billing defaults and the portal's own
    external-id and contract-date properties."""
    extra = {"companies": (external_id_property,), "deals": (contract_start_property, contract_end_property)}
    return {name: (*properties, *extra.get(name, ())) for name, properties in BILLING_PROPERTIES.items()}


def billing_columns(
    external_id_property: str, contract_start_property: str, contract_end_property: str
) -> dict[str, dict[str, str]]:
    """Per type, the fixed-name columns a sync adds beside the records: column -> the property
    that feeds it."""
    return {
        "companies": {BILLING_KEY: external_id_property},
        "deals": {"billing_contract_start": contract_start_property, "billing_contract_end": contract_end_property},
        "line_items": {
            "billing_start_date": "hs_recurring_billing_start_date",
            "billing_end_date": "hs_recurring_billing_end_date",
        },
    }


def iso_day(value: object) -> str | None:
    """A HubSpot date property as an ISO day: `YYYY-MM-DD` (or the day of an ISO time) as it is,
    epoch milliseconds (midnight UTC) as their UTC day; None when unset; anything else as written."""
    if value is None or (text := str(value).strip()) == "":
        return None
    if text.lstrip("-").isdigit():
        try:
            return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))).date().isoformat()
        except OverflowError:
            return text
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return text


def with_billing_columns(columns: Mapping[str, str]) -> Callable[[dict], dict]:
    """Adds the fixed-name columns to a record: the external id as trimmed text (None when
    blank: the company stays a customer of its own), the dates as ISO days (`iso_day`)."""

    def add(record: dict) -> dict:
        properties = record.get("properties") or {}
        added = {}
        for column, name in columns.items():
            value = properties.get(name)
            if column == BILLING_KEY:
                added[column] = (value.strip() or None) if isinstance(value, str) else value
            else:
                added[column] = iso_day(value)
        return {**record, **added}

    return add


def hubspot_client(
    base_url: str,
    auth: requests.auth.AuthBase,
    *,
    retry: RetryPolicy | None = None,
    search_requests_per_second: float = SEARCH_REQUESTS_PER_SECOND,
    source: str = "hubspot",
) -> ApiClient:
    """A client signing its requests with `auth` (the private-app token as a bearer) whose
    searches, of every type, share one budget at HubSpot's limit (which counts searches per
    account over a rolling second, apart from other endpoints). `source` names it in its errors."""
    search_budget = RequestBudget(search_requests_per_second)
    return ApiClient(
        source,
        base_url,
        auth=auth,
        retry=retry or RetryPolicy(),
        budgets=dict.fromkeys((_search_path(name) for name in OBJECTS), search_budget),
    )


def hubspot_api_client(source_name: str, source: HubSpotSourceConfig) -> ApiClient:
    """The portal's API as billing.yaml configures it, its token read from `token_env` when a
    request is sent (so definitions load without it)."""
    auth = BearerTokenFromEnv(source_name, source.token_env, "HubSpot private-app token")
    return hubspot_client(
        source.base_url,
        auth,
        retry=RetryPolicy(attempts=source.max_attempts),
        search_requests_per_second=source.search_requests_per_second,
        source=source_name,
    )


def modified_ms(record: dict) -> int:
    """A record's `hs_lastmodifieddate` in epoch milliseconds (HubSpot writes it ISO, `…Z`)."""
    return round(datetime.fromisoformat(record["properties"]["hs_lastmodifieddate"]).timestamp() * 1000)


def archived_since(pages: Iterable[list[dict]], since_ms: int) -> Iterator[list[dict]]:
    """The archived records of some pages archived at or after `since_ms`: the ones archived
    since a sync's cursor (those archived earlier are loaded already)."""
    for page in pages:
        recent = [r for r in page if datetime.fromisoformat(r["archivedAt"]).timestamp() * 1000 >= since_ms]
        if recent:
            yield recent


def search_query(properties: Iterable[str], since_ms: int, after: int) -> dict:
    """The search for records modified at or after `since_ms`, oldest change first, from result `after`."""
    since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since_ms)}
    return {
        "filterGroups": [{"filters": [since]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": list(properties),
        "limit": SEARCH_PAGE_SIZE,
        "after": after,
    }


def next_after(answer: dict) -> str | None:
    """Where the next page of a list or search starts (an id, an offset), or None after the last."""
    return answer.get("paging", {}).get("next", {}).get("after")


def within_cap(after: int) -> bool:
    """Whether the page from result `after` is one the search still answers."""
    return after + SEARCH_PAGE_SIZE <= SEARCH_RESULT_CAP


@dataclass(frozen=True)
class Frontier:
    """How far a search for changes has read: the records modified at or after `since_ms`, less
    those of that very millisecond already read, from result `after` of that search."""

    since_ms: int
    read_at_since: frozenset[str] = frozenset()
    after: int = 0

    def unread(self, page: list[dict]) -> list[dict]:
        """The records of a page not read before."""
        return [r for r in page if r["id"] not in self.read_at_since or modified_ms(r) != self.since_ms]

    def past(self, page: list[dict]) -> Frontier:
        """The frontier once a page with more to come is read: a new search from the page's last
        modification time, or, when the whole page has the frontier's own, the search's next page."""
        last_ms = modified_ms(page[-1])
        at_last = frozenset(r["id"] for r in page if modified_ms(r) == last_ms)
        if last_ms > self.since_ms:
            return Frontier(last_ms, at_last)
        return Frontier(self.since_ms, self.read_at_since | at_last, self.after + len(page))


def association_rows(answer: dict, id_column: str) -> tuple[list[dict], list[str]]:
    """A (possibly 207) associations answer as pairs `{deal_id, <id_column>, is_primary}`, and the
    deals it found no association for. Any other per-deal error fails the sync: those deals'
    pairs are unknown, and keeping or dropping them would both be guesses."""
    rows = [
        {
            "deal_id": str(result["from"]["id"]),
            id_column: str(target["toObjectId"]),
            "is_primary": any(t.get("label") == PRIMARY_ASSOCIATION_LABEL for t in target["associationTypes"]),
        }
        for result in answer.get("results", [])
        for target in result["to"]
    ]
    errors = answer.get("errors", [])
    failed = [error for error in errors if error.get("subCategory") != NO_ASSOCIATIONS]
    if failed:
        raise SourceRequestError(f"hubspot: {len(failed)} deals' associations could not be read: {failed[0]}")
    return rows, [str(deal) for error in errors for deal in error["context"]["fromObjectId"]]


def batched(pages: Iterable[list[dict]], size: int = ASSOCIATION_BATCH) -> Iterator[list[dict]]:
    """Pages regrouped into lists of up to `size` records."""
    batch: list[dict] = []
    for page in pages:
        batch.extend(page)
        while len(batch) >= size:
            yield batch[:size]
            batch = batch[size:]
    if batch:
        yield batch


def list_pages(
    client: ApiClient, object_type: str, properties: Iterable[str], *, archived: bool = False
) -> Iterator[list[dict]]:
    """Every live (or every archived) record of a type, a page at a time, following `paging.next.after`."""
    query = {"limit": LIST_PAGE_SIZE, "properties": ",".join(properties), "archived": str(archived).lower()}
    while True:
        answer = client.get(f"/crm/v3/objects/{object_type}", query)
        if answer["results"]:
            yield answer["results"]
        query["after"] = next_after(answer)
        if query["after"] is None:
            return


def changed_pages(client: ApiClient, object_type: str, properties: tuple[str, ...], since_ms: int) -> Iterator[list]:
    """Every live record of a type modified at or after `since_ms`, a search page at a time. Each
    page is a new search from the last modification time read, so the search never nears its cap,
    and a record edited meanwhile (which moves to the end of the results) shifts no unread one
    past a page. Only a page-full of records sharing one millisecond is paged through by offset;
    should that reach the cap, the type is listed whole."""
    frontier = Frontier(since_ms)
    while True:
        answer = client.post(_search_path(object_type), search_query(properties, frontier.since_ms, frontier.after))
        unread = frontier.unread(answer["results"])
        if unread:
            yield unread
        if next_after(answer) is None:
            return
        frontier = frontier.past(answer["results"])
        if not within_cap(frontier.after):
            yield from list_pages(client, object_type, properties)
            return


@dlt.source(name="hubspot")
def hubspot_source(
    client: ApiClient,
    tables: tuple[str, ...],
    properties: Mapping[str, tuple[str, ...]],
    now: Callable[[], float] = time.time,
    added: Mapping[str, Mapping[str, str]] | None = None,
) -> list:
    """The portal's billing records into `raw_hubspot`, each type merged on `id` (the copy with
    the latest `updatedAt` wins when a sync reads a record twice), and the deals' pairs
    `deal_companies` and `deal_line_items`: the `tables` named. Every property asked for is a text
    column, null where a record lacks it; `added` are the fixed-name columns per type
    (`billing_columns`). `now` is the sync's clock (HubSpot's clock, in production)."""
    added = added or {}
    resources = {}
    for object_type in OBJECTS:
        if not set(FEEDS[object_type]) & set(tables):
            continue
        names = properties[object_type]
        records = dlt.resource(
            _read(client, object_type, names, now),
            name=object_type,
            write_disposition="merge",
            primary_key="id",
            columns={
                "updatedAt": {"dedup_sort": "desc"},
                **{f"properties__{name}": {"data_type": "text", "nullable": True} for name in names},
                **{column: {"data_type": "text", "nullable": True} for column in added.get(object_type, {})},
            },
        )
        if added.get(object_type):
            records.add_map(with_billing_columns(added[object_type]))
        resources[object_type] = records
        if object_type == "deals":
            resources |= {table: _pairs(client, records, table, *target) for table, target in ASSOCIATED.items()}
    return [resources[table] for table in TABLES if table in tables]


def _read(client: ApiClient, object_type: str, properties: tuple[str, ...], now: Callable[[], float]) -> Iterator:
    """One type: everything on its first sync, otherwise what changed since its cursor; then its
    archived records (on later syncs, those archived since the cursor). The cursor moves only when the run loads every table this
    read feeds (the deals also feed their pairs)."""
    state = dlt.current.resource_state()
    started_ms, since_ms = round(now() * 1000), state.get("modified_since_ms")
    archived = list_pages(client, object_type, properties, archived=True)
    if since_ms is None:
        live = list_pages(client, object_type, properties)
    else:
        live = changed_pages(client, object_type, properties, since_ms)
        archived = archived_since(archived, since_ms)
    yield from batched(live)
    yield from batched(archived)
    if loads_all(FEEDS[object_type]):
        state["modified_since_ms"] = started_ms - VISIBILITY_MARGIN_MS


def _pairs(client: ApiClient, deals, table: str, to_type: str, id_column: str):
    """The pairs of each live deal `deals` yields, read once per sync. A deal found with none
    yields a marker row (`unlinked`) that deletes its earlier pairs and is not itself stored."""
    read: set[str] = set()

    def pairs(batch: list[dict]) -> Iterator[list[dict]]:
        ids = [deal["id"] for deal in batch if not deal.get("archived") and deal["id"] not in read]
        read.update(ids)
        if not ids:
            return
        answer = client.post(f"/crm/v4/associations/deals/{to_type}/batch/read", {"inputs": [{"id": i} for i in ids]})
        rows, without = association_rows(answer, id_column)
        yield rows + [{"deal_id": deal_id, "unlinked": True} for deal_id in without]

    return dlt.transformer(
        pairs,
        data_from=deals,
        name=table,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        merge_key="deal_id",
        columns={"unlinked": {"data_type": "bool", "hard_delete": True}},
    )


def hubspot_dlt_source(
    client: ApiClient,
    tables: list[str],
    *,
    external_id_property: str = "external_customer_id",
    contract_start_property: str = "contract_start_date__zenskar_",
    contract_end_property: str = "contract_end_date__zenskar_",
    now: Callable[[], float] = time.time,
) -> DltSource:
    """The source for some of the raw tables (the raw assets a run selects: `TABLES`), asking
    for the portal's own external-id and contract-date properties, which it also copies into
    the fixed-name columns staging reads (`billing_columns`)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"HubSpot has no billing table {sorted(unknown)}; choose from {list(TABLES)}")
    properties = requested_properties(external_id_property, contract_start_property, contract_end_property)
    added = billing_columns(external_id_property, contract_start_property, contract_end_property)
    return hubspot_source(client, tuple(tables), properties, now, added)


def hubspot_config_source(source_name: str, source: HubSpotSourceConfig, tables: list[str]) -> DltSource:
    """The source for some tables of a portal billing.yaml configures (what its raw asset runs)."""
    return hubspot_dlt_source(
        hubspot_api_client(source_name, source),
        tables,
        external_id_property=source.external_id_property,
        contract_start_property=source.contract_start_property,
        contract_end_property=source.contract_end_property,
    )


def _search_path(object_type: str) -> str:
    return f"/crm/v3/objects/{object_type}/search"
