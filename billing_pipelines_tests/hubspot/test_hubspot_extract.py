"""The HubSpot source against the HubSpot stand-in over real HTTP, loaded by dlt into DuckDB: first
sync, changes, deletes and re-linked deals through search, the 10,000-result cap, rate limits, failures."""

import time
from datetime import UTC, date, datetime

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from billing_pipelines.defs.hubspot import extract
from billing_pipelines.defs.hubspot.extract import (
    OBJECTS,
    SEARCH_RESULT_CAP,
    TABLES,
    Frontier,
    association_rows,
    batched,
    hubspot_client,
    hubspot_dlt_source,
    iso_day,
    modified_ms,
    requested_properties,
    with_billing_columns,
    within_cap,
)
from billing_pipelines.lib.http_client import ApiClient, BearerTokenFromEnv, RetryPolicy, SourceRequestError
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines_tests.api_sources import raw_pipeline

TOKEN = "pat-na1-hubspot-extract-0123456789"
TOKEN_ENV = "TEST_BILLING_HUBSPOT_EXTRACT_TOKEN"
DEALS = ("deals", "deal_companies", "deal_line_items")
"""The deals with the pairs their read feeds."""
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_delay_seconds=0.1)  # a Retry-After is honoured up to 0.1 s


@pytest.fixture
def hubspot(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    standin = HubSpotStandin(token=TOKEN)  # on real time: its search limit is HubSpot's, per real second
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=3, accounts=150))
    with standin.serving() as base_url:
        yield Sync(standin, base_url, tmp_path)


class Sync:
    """Runs the HubSpot source into a DuckDB file the way a raw asset does, and reads it back."""

    def __init__(self, standin: HubSpotStandin, base_url: str, tmp_path):
        self.standin, self.base_url = standin, base_url
        self.warehouse = str(tmp_path / "warehouse.duckdb")
        self.pipeline = raw_pipeline("hubspot_test", self.warehouse, "raw_hubspot", tmp_path / "pipelines")

    def client(self, search_requests_per_second: float = 4.0) -> ApiClient:
        auth = BearerTokenFromEnv("hubspot", TOKEN_ENV, "HubSpot private-app token")
        return hubspot_client(self.base_url, auth, retry=FAST, search_requests_per_second=search_requests_per_second)

    def run(self, tables=TABLES, client: ApiClient | None = None) -> int:
        """One sync of some raw tables; the requests it made."""
        client = client or self.client()
        self.pipeline.run(hubspot_dlt_source(client, list(tables)))
        return client.requests_made

    def cursor(self, object_type: str) -> int | None:
        """A type's cursor as the last sync committed it."""
        resources = self.pipeline.state.get("sources", {}).get("hubspot", {}).get("resources", {})
        return resources.get(object_type, {}).get("modified_since_ms")

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(self.warehouse, read_only=True) as connection:
            return connection.execute(sql).fetchall()

    def count(self, table: str, where: str = "true") -> int:
        return self.query(f"select count(*) from raw_hubspot.{table} where {where}")[0][0]

    def pairs(self, table: str, deal_id: str) -> list[str]:
        column = extract.ASSOCIATED[table][1]
        return [row[0] for row in self.query(f"select {column} from raw_hubspot.{table} where deal_id = '{deal_id}'")]

    def records(self, object_type: str, *, archived: bool = False) -> dict:
        return {
            str(i): record
            for i, record in self.standin._records[object_type].items()
            if (record.archived_ms is not None) == archived
        }

    def linked(self, to_type: str) -> set[tuple[str, str]]:
        """The stand-in's pairs of live deals with live records of `to_type`."""
        deals, targets = self.records("deals"), self.records(to_type)
        return {
            (str(deal), str(target))
            for deal, linked in self.standin._links["deals", to_type].items()
            for target in linked
            if str(deal) in deals and str(target) in targets
        }

    def unlink(self, deal_id: str, to_type: str, to_id: str) -> None:
        """Remove an association, as a user does in HubSpot (the stand-in only adds them)."""
        with self.standin.lock:
            self.standin._links["deals", to_type][int(deal_id)].remove(int(to_id))
            self.standin._links[to_type, "deals"][int(to_id)].remove(int(deal_id))


def test_the_first_sync_loads_every_record_its_properties_and_each_deals_company_and_line_items(hubspot):
    requests = hubspot.run()
    for object_type in OBJECTS:
        assert hubspot.count(object_type, "not archived") == len(hubspot.records(object_type))
        assert hubspot.count(object_type, "archived") == len(hubspot.records(object_type, archived=True))
    assert len(hubspot.records("companies")) > 100  # more than one page
    assert hubspot.count("companies", "archived") > 0
    assert set(hubspot.query("select deal_id, company_id from raw_hubspot.deal_companies")) == hubspot.linked(
        "companies"
    )
    assert hubspot.count("deal_companies") == len(hubspot.linked("companies"))
    assert hubspot.count("deal_companies", "not is_primary") == 0  # each seeded deal's company is its primary
    assert set(hubspot.query("select deal_id, line_item_id from raw_hubspot.deal_line_items")) == hubspot.linked(
        "line_items"
    )
    assert hubspot.standin.requests_to("/crm/v3/objects/companies/search") == 0  # a first sync lists
    assert requests == len(hubspot.standin.log)

    columns = {row[0] for row in hubspot.query("select column_name from information_schema.columns")}
    assert "properties__hs_recurring_billing_end_date" in columns  # asked for, though the seed sets none
    assert "properties__contract_end_date__zenskarx" in columns  # dlt's name for `…__zenskar_`
    deal = next(iter(hubspot.records("deals").values()))
    start = hubspot.query(
        f"select properties__contract_start_date__zenskarx from raw_hubspot.deals where id = '{deal.id}'"
    )
    assert start == [(deal.properties["contract_start_date__zenskar_"],)]


def test_more_than_10000_changes_arrive_past_the_search_cap_without_loss_or_a_429(hubspot):
    hubspot.run(["companies"])
    renamed = next(iter(hubspot.records("companies")))
    hubspot.standin.update("companies", renamed, name="Renamed Ltd")
    start = round(time.time() * 1000) + 1_000
    hubspot.standin.add_companies(9_950, modified_start=start, modified_step_ms=1)
    # 350 changed in one millisecond, more than a page, straddling the 10,000th result
    hubspot.standin.add_companies(350, modified_start=start + 9_950, modified_step_ms=0)
    hubspot.standin.reset_log()

    hubspot.run(["companies"])

    assert hubspot.count("companies", "properties__name like 'Synthetic %'") == 10_300
    assert hubspot.query(f"select properties__name from raw_hubspot.companies where id = '{renamed}'") == [
        ("Renamed Ltd",)
    ]
    assert hubspot.count("companies") == len(hubspot.records("companies")) + len(
        hubspot.records("companies", archived=True)
    )  # merged: the records fetched twice are not duplicated
    searches = [r.status for r in hubspot.standin.log if r.path.endswith("/search")]
    assert len(searches) > 50 and set(searches) == {200}  # no 400 past the cap, no 429 from the secondly limit


def test_10000_changes_in_one_millisecond_are_read_by_listing_the_type(hubspot, monkeypatch):
    monkeypatch.setattr(extract, "SEARCH_RESULT_CAP", 400)  # HubSpot's cap, scaled down
    hubspot.standin.search_per_second = 100
    hubspot.run(["companies"])
    hubspot.standin.add_companies(450, modified_start=round(time.time() * 1000), modified_step_ms=0)
    hubspot.standin.reset_log()

    hubspot.run(["companies"], hubspot.client(search_requests_per_second=50))

    assert hubspot.count("companies", "properties__name like 'Synthetic %'") == 450
    assert hubspot.standin.requests_to("/crm/v3/objects/companies/search") == 3  # from the moment, then by offset
    assert hubspot.standin.requests_to("/crm/v3/objects/companies", method="GET") > 2  # the listing


def test_a_record_edited_while_the_changes_are_paged_shifts_no_other_past_a_page(hubspot):
    hubspot.run(["companies"])
    added = hubspot.standin.add_companies(450, modified_start=round(time.time() * 1000) - 10_000, modified_step_ms=1)
    client = hubspot.client()
    search = client.post

    def edit_after_the_first_page(path, body):
        answer = search(path, body)
        if body["after"] == 0 and answer["results"][0]["id"] == added[0]:
            hubspot.standin.update("companies", added[0], name="Edited mid-sync")  # moves to the end
        return answer

    client.post = edit_after_the_first_page
    hubspot.run(["companies"], client)

    loaded = {r[0] for r in hubspot.query("select id from raw_hubspot.companies")}
    assert set(added) <= loaded  # paging by offset would have skipped the 201st
    assert hubspot.query(f"select properties__name from raw_hubspot.companies where id = '{added[0]}'") == [
        ("Edited mid-sync",)
    ]


def test_changes_deletes_and_re_linked_deals_arrive_on_the_next_sync(hubspot):
    hubspot.run(["companies", *DEALS])
    companies = list(hubspot.records("companies"))
    changed, gone = companies[0], companies[1]
    deal = next(d for d, c in sorted(hubspot.linked("companies")) if c == companies[2])
    items = [i for d, i in hubspot.linked("line_items") if d == deal]
    emptied = next(d for d, _ in sorted(hubspot.linked("line_items")) if d != deal)
    hubspot.standin.update("companies", changed, name="New Name GmbH")
    hubspot.standin.archive("companies", gone)
    hubspot.unlink(deal, "companies", companies[2])  # the deal moves to another customer
    hubspot.standin.associate("deals", deal, "companies", companies[3])
    hubspot.unlink(deal, "line_items", items[0])
    hubspot.standin.update("deals", deal, dealname="Moved deal")
    for item in [i for d, i in hubspot.linked("line_items") if d == emptied]:
        hubspot.unlink(emptied, "line_items", item)
    hubspot.standin.update("deals", emptied, dealname="No items left")

    hubspot.run(["companies", *DEALS])

    assert hubspot.query(f"select properties__name from raw_hubspot.companies where id = '{changed}'") == [
        ("New Name GmbH",)
    ]
    name = hubspot.records("companies", archived=True)[gone].properties["name"]
    assert hubspot.query(f"select archived, properties__name from raw_hubspot.companies where id = '{gone}'") == [
        (True, name)  # flagged, and what the customer was is kept
    ]
    assert hubspot.pairs("deal_companies", deal) == [companies[3]]
    assert sorted(hubspot.pairs("deal_line_items", deal)) == sorted(items[1:])
    assert hubspot.pairs("deal_line_items", emptied) == []
    assert hubspot.count("deal_line_items", "line_item_id is null") == 0  # the marker itself is not stored
    assert hubspot.count("companies") == len(hubspot.standin._records["companies"])  # merged: nothing duplicated


def test_a_second_sync_with_no_changes_makes_two_requests_per_type_and_loads_nothing(hubspot):
    hubspot.run()
    loads = {table: hubspot.query(f"select count(distinct _dlt_load_id) from raw_hubspot.{table}") for table in OBJECTS}
    hubspot.standin.reset_log()
    assert hubspot.run() == 2 * len(OBJECTS)
    for object_type in OBJECTS:
        assert hubspot.standin.requests_to(f"/crm/v3/objects/{object_type}") == 2  # one search, one archived page
    assert hubspot.standin.requests_to("/crm/v4/") == 0  # no deal changed: no associations read
    assert hubspot.count("companies", "archived") > 0  # and not one of them loaded again:
    assert {
        table: hubspot.query(f"select count(distinct _dlt_load_id) from raw_hubspot.{table}") for table in OBJECTS
    } == loads


def test_a_burst_of_429s_is_survived_with_the_right_totals(hubspot):
    hubspot.standin.inject_faults(429, 2, retry_after=1, path_prefix="/crm/v3/objects/companies")
    hubspot.run(["companies", *DEALS])
    deal = next(iter(hubspot.records("deals")))
    hubspot.standin.update("deals", deal, amount=999)
    hubspot.standin.inject_faults(429, 2, retry_after=1, path_prefix="/crm/v3/objects/deals/search")
    hubspot.standin.inject_faults(429, 1, retry_after=1, path_prefix="/crm/v4/associations/deals/companies")

    hubspot.run(DEALS)

    assert hubspot.count("companies") == len(hubspot.standin._records["companies"])
    assert hubspot.query(f"select properties__amount from raw_hubspot.deals where id = '{deal}'") == [("999",)]
    assert hubspot.count("deal_companies") == len(hubspot.linked("companies"))
    assert [r.status for r in hubspot.standin.log].count(429) == 5


def test_exhausted_retries_fail_the_sync_naming_the_endpoint_and_move_no_cursor(hubspot):
    hubspot.run(["companies"])
    company = next(iter(hubspot.records("companies")))
    name = hubspot.records("companies")[company].properties["name"]
    hubspot.standin.update("companies", company, name="Changed Name Inc")
    hubspot.standin.inject_faults(503, FAST.attempts, path_prefix="/crm/v3/objects/companies/search")
    with pytest.raises(PipelineStepFailed) as failure:
        hubspot.run(["companies"])
    assert "hubspot: POST /crm/v3/objects/companies/search failed after 3 attempts with HTTP 503" in str(failure.value)
    assert TOKEN not in str(failure.value)
    assert hubspot.query(f"select properties__name from raw_hubspot.companies where id = '{company}'") == [(name,)]
    hubspot.run(["companies"])  # the cursor did not move: the next sync still sees the change
    assert hubspot.query(f"select properties__name from raw_hubspot.companies where id = '{company}'") == [
        ("Changed Name Inc",)
    ]


def record(object_id: str, modified: str) -> dict:
    return {"id": object_id, "properties": {"hs_lastmodifieddate": f"2026-11-01T00:00:{modified}Z"}}


def test_each_page_starts_a_new_search_from_its_last_modification_time_skipping_what_was_read():
    start = Frontier(since_ms=modified_ms(record("0", "00.000")))
    page = [record("1", "01.000"), record("2", "02.000"), record("3", "02.000")]
    frontier = start.past(page)
    assert frontier == Frontier(modified_ms(page[-1]), frozenset({"2", "3"}), after=0)
    again = [record("2", "02.000"), record("3", "02.000"), record("4", "02.000"), record("5", "03.000")]
    assert [r["id"] for r in frontier.unread(again)] == ["4", "5"]


def test_later_syncs_load_the_records_archived_since_their_cursor():
    archived = [
        {"id": "1", "archivedAt": "2026-09-30T09:59:59.999Z"},
        {"id": "2", "archivedAt": "2026-09-30T10:00:00.000Z"},
        {"id": "3", "archivedAt": "2026-10-01T08:00:00.000Z"},
    ]
    since_ms = round(datetime(2026, 9, 30, 10, tzinfo=UTC).timestamp() * 1000)
    assert list(extract.archived_since([archived[:1], archived[1:]], since_ms)) == [archived[1:]]


def test_a_page_all_of_one_millisecond_pages_on_until_the_cap():
    frontier = Frontier(modified_ms(record("0", "05.000")), frozenset({"1"}))
    page = [record(str(n), "05.000") for n in range(1, 201)]
    assert frontier.past(page) == Frontier(frontier.since_ms, frozenset(r["id"] for r in page), after=200)
    assert within_cap(SEARCH_RESULT_CAP - 200) and not within_cap(SEARCH_RESULT_CAP)


def test_modification_times_are_read_from_hubspots_iso_timestamps():
    assert modified_ms({"properties": {"hs_lastmodifieddate": "2024-05-01T07:10:12.688Z"}}) == 1_714_547_412_688


def test_a_207_answer_gives_the_pairs_and_the_deals_without_any():
    answer = {
        "status": "COMPLETE",
        "results": [
            {
                "from": {"id": "11"},
                "to": [
                    {"toObjectId": 7, "associationTypes": [{"typeId": 5, "label": "Primary"}, {"typeId": 341}]},
                    {"toObjectId": 8, "associationTypes": [{"typeId": 341, "label": None}]},
                ],
            }
        ],
        "numErrors": 1,
        "errors": [
            {"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND", "context": {"fromObjectId": ["12"]}},
        ],
    }
    rows, without = association_rows(answer, "company_id")
    assert rows == [
        {"deal_id": "11", "company_id": "7", "is_primary": True},
        {"deal_id": "11", "company_id": "8", "is_primary": False},
    ]
    assert without == ["12"]


def test_any_other_associations_error_fails_the_sync():
    answer = {"results": [], "errors": [{"subCategory": "crm.associations.UNKNOWN", "message": "internal"}]}
    with pytest.raises(SourceRequestError, match="hubspot: 1 deals' associations could not be read"):
        association_rows(answer, "company_id")


def test_pages_are_regrouped_into_batches_an_associations_read_takes():
    pages = [[{"id": str(n)} for n in range(start, start + 400)] for start in range(0, 1_200, 400)]
    assert [len(batch) for batch in batched(pages, 1_000)] == [1_000, 200]


def test_the_portals_own_properties_are_requested_with_the_billing_defaults():
    properties = requested_properties("crm_customer_id", "start_on", "end_on")
    assert properties["companies"][-1] == "crm_customer_id" and "country" in properties["companies"]
    assert properties["deals"][-2:] == ("start_on", "end_on") and "deal_currency_code" in properties["deals"]
    assert "hs_product_id" in properties["line_items"]


def test_a_run_that_loads_only_the_deals_pairs_reads_the_deals_but_leaves_their_cursor(hubspot):
    hubspot.run()
    cursor = hubspot.cursor("deals")
    deal, company = next((d, c) for d, c in sorted(hubspot.linked("companies")))
    old_name = hubspot.records("deals")[deal].properties["dealname"]
    hubspot.standin.update("deals", deal, dealname="Renamed deal")
    other = next(c for c in hubspot.records("companies") if c != company)
    hubspot.unlink(deal, "companies", company)
    hubspot.standin.associate("deals", deal, "companies", other)

    hubspot.run(["deal_companies"])

    assert hubspot.pairs("deal_companies", deal) == [other]  # the pairs of the changed deal are read
    assert hubspot.query(f"select properties__dealname from raw_hubspot.deals where id = '{deal}'") == [(old_name,)]
    assert hubspot.cursor("deals") == cursor  # the deals themselves were not loaded
    # as a Dagster run selecting one raw asset does it: the whole source, then some of its resources
    hubspot.pipeline.run(hubspot_dlt_source(hubspot.client(), list(TABLES)).with_resources("deal_line_items"))
    assert hubspot.cursor("deals") == cursor

    hubspot.run(DEALS)

    assert hubspot.query(f"select properties__dealname from raw_hubspot.deals where id = '{deal}'") == [
        ("Renamed deal",)
    ]
    assert hubspot.cursor("deals") > cursor


def test_deals_loaded_without_their_pairs_keep_their_cursor_for_the_sync_that_loads_both(hubspot):
    hubspot.run(["deals"])
    assert hubspot.count("deals") == len(hubspot.standin._records["deals"])
    assert hubspot.cursor("deals") is None  # their pairs are still to be read
    hubspot.run(DEALS)
    assert hubspot.count("deal_companies") == len(hubspot.linked("companies"))
    assert hubspot.cursor("deals") is not None


def test_the_portals_own_properties_land_in_fixed_name_columns(hubspot):
    hubspot.run(["companies", *DEALS, "line_items"])
    keyed = {i: r for i, r in hubspot.records("companies").items() if r.properties.get("external_customer_id")}
    company, record = next(iter(keyed.items()))
    assert hubspot.query(f"select billing_external_id from raw_hubspot.companies where id = '{company}'") == [
        (record.properties["external_customer_id"],)
    ]
    unkeyed = next(i for i in hubspot.records("companies") if i not in keyed)
    assert hubspot.query(f"select billing_external_id from raw_hubspot.companies where id = '{unkeyed}'") == [(None,)]
    deal, record = next(iter(hubspot.records("deals").items()))
    assert hubspot.query(
        f"select billing_contract_start, billing_contract_end from raw_hubspot.deals where id = '{deal}'"
    ) == [(record.properties["contract_start_date__zenskar_"], record.properties["contract_end_date__zenskar_"])]
    assert hubspot.count("line_items", "billing_start_date is null") == 0


def test_hubspot_dates_become_iso_days_whether_written_as_days_or_epoch_milliseconds():
    assert iso_day("2026-01-15") == "2026-01-15"
    assert iso_day("1768435200000") == "2026-01-15"  # midnight UTC in epoch milliseconds
    assert iso_day(1768435200000) == "2026-01-15"
    assert iso_day("2026-01-15T00:00:00.000Z") == "2026-01-15"
    assert iso_day(" ") is None and iso_day(None) is None
    assert iso_day("15/01/2026") == "15/01/2026"  # kept as written: staging rejects it
    add = with_billing_columns({"billing_external_id": "crm_id", "billing_contract_start": "start_on"})
    assert add({"id": "1", "properties": {"crm_id": " CUS-1 ", "start_on": "1768435200000"}}) == {
        "id": "1",
        "properties": {"crm_id": " CUS-1 ", "start_on": "1768435200000"},
        "billing_external_id": "CUS-1",
        "billing_contract_start": "2026-01-15",
    }
    assert add({"id": "2", "properties": {"crm_id": "  "}})["billing_external_id"] is None
