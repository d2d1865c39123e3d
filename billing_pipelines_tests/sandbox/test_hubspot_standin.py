"""The HubSpot stand-in over real HTTP: what the HubSpot sync relies on, and HubSpot's hard edges."""

import time
from datetime import UTC, date, datetime

import pytest
import requests

from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin

TOKEN = "pat-test"
T0 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


class Clock:
    """A clock the test moves: seconds, as `time.time` gives them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def clock():
    return Clock(T0 / 1000 + 86_400)


@pytest.fixture
def standin(clock):
    return HubSpotStandin(token=TOKEN, now=clock)


@pytest.fixture
def api(standin):
    """A session bearing the token, with the stand-in's base URL as `api.base`."""
    with standin.serving() as base_url, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        session.base = base_url
        yield session


def search(api, object_type, **body):
    return api.post(f"{api.base}/crm/v3/objects/{object_type}/search", json=body)


def modified_since(ms):
    return [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(ms)}]}]


def list_all(api, object_type, **params):
    """Every record of a list, following `paging.next.after`; also how many pages it took."""
    records, pages, after = [], 0, None
    while True:
        answer = api.get(f"{api.base}/crm/v3/objects/{object_type}", params={**params, "after": after})
        assert answer.status_code == 200, answer.text
        body, pages = answer.json(), pages + 1
        records += body["results"]
        if "paging" not in body:
            return records, pages
        after = body["paging"]["next"]["after"]


def test_list_pages_return_each_record_once_and_the_last_page_has_no_paging(api, standin):
    ids = [standin.add("companies", {"name": f"Company {n}", "city": "Berlin"}) for n in range(25)]
    records, pages = list_all(api, "companies", limit=10, properties="name")
    assert [r["id"] for r in records] == ids and pages == 3
    assert set(records[0]["properties"]) == {"name", "hs_object_id", "createdate", "hs_lastmodifieddate"}
    assert records[0]["properties"]["hs_object_id"] == ids[0] and records[0]["archived"] is False


def test_list_limit_above_100_is_a_validation_error(api):
    answer = api.get(f"{api.base}/crm/v3/objects/companies", params={"limit": 101})
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR" and answer.json()["status"] == "error"


def test_search_since_a_cursor_returns_exactly_the_modified_records_in_modification_order(api, standin, clock):
    ids = standin.add_companies(30, modified_start=T0, modified_step_ms=1_000)
    cursor = round(clock() * 1000)
    for object_id in (ids[20], ids[4], ids[11]):
        clock.seconds += 1
        standin.update("companies", object_id, name="Renamed")
    sorts = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    answer = search(api, "companies", filterGroups=modified_since(cursor), sorts=sorts, properties=["name"])
    body = answer.json()
    assert answer.status_code == 200 and body["total"] == 3 and "paging" not in body
    assert [r["id"] for r in body["results"]] == [ids[20], ids[4], ids[11]]
    assert {r["properties"]["name"] for r in body["results"]} == {"Renamed"}


def test_search_cannot_page_past_10000_results(api, standin):
    standin.add_companies(10_050, modified_start=T0)
    sorts = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    last_page = search(api, "companies", filterGroups=modified_since(T0), sorts=sorts, limit=200, after="9800")
    assert last_page.status_code == 200 and last_page.json()["total"] == 10_050
    assert last_page.json()["paging"]["next"]["after"] == "10000"
    past = search(api, "companies", filterGroups=modified_since(T0), sorts=sorts, limit=200, after="10000")
    assert past.status_code == 400
    assert past.json()["status"] == "error" and past.json()["category"] == "VALIDATION_ERROR"
    assert search(api, "companies", limit=201).status_code == 400


def test_a_burst_of_searches_hits_the_secondly_limit_until_a_second_passes(api, clock):
    statuses = [search(api, "companies").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    limited = search(api, "companies")
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() | {"correlationId": None} == {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": None,
        "policyName": "SECONDLY",
        "groupName": "publicapi:search",
    }
    assert api.get(f"{api.base}/crm/v3/objects/companies").status_code == 200  # the limit is the search API's alone
    clock.seconds += 1
    assert search(api, "companies").status_code == 200


def test_the_secondly_limit_runs_on_real_time_by_default():
    standin = HubSpotStandin(token=TOKEN, search_per_second=2)
    with standin.serving() as base_url, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        session.base = base_url
        assert [search(session, "deals").status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(1.05)
        assert search(session, "deals").status_code == 200


def test_an_archived_record_leaves_list_and_search_but_keeps_its_modification_time(api, standin, clock):
    kept, gone = standin.add("companies", {"name": "Kept"}), standin.add("companies", {"name": "Gone"})
    modified = api.get(f"{api.base}/crm/v3/objects/companies/{gone}").json()["properties"]["hs_lastmodifieddate"]
    clock.seconds += 60
    standin.archive("companies", gone)

    assert [r["id"] for r in list_all(api, "companies")[0]] == [kept]
    assert [r["id"] for r in search(api, "companies").json()["results"]] == [kept]
    assert api.get(f"{api.base}/crm/v3/objects/companies/{gone}").status_code == 404
    [archived] = list_all(api, "companies", archived="true")[0]
    assert archived["id"] == gone and archived["archived"] is True and "archivedAt" in archived
    assert archived["properties"]["hs_lastmodifieddate"] == modified
    read = api.get(f"{api.base}/crm/v3/objects/companies/{gone}", params={"archived": "true"})
    assert read.status_code == 200 and read.json()["archivedAt"] > modified


def test_associations_batch_read_gives_a_deals_company_and_line_items(api, standin):
    company, deal = standin.add("companies", {"name": "Acme"}), standin.add("deals", {"dealname": "Acme - Growth"})
    lonely = standin.add("deals", {"dealname": "No company"})
    items = [standin.add("line_items", {"name": name}) for name in ("Platform", "Seats")]
    standin.associate("deals", deal, "companies", company)
    for item in items:
        standin.associate("deals", deal, "line_items", item)

    read = api.post(f"{api.base}/crm/v4/associations/deals/companies/batch/read", json={"inputs": [{"id": deal}]})
    assert read.status_code == 200
    [result] = read.json()["results"]
    assert result["from"] == {"id": deal} and [t["toObjectId"] for t in result["to"]] == [int(company)]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None} in result["to"][0]["associationTypes"]

    inputs = [{"id": deal}, {"id": lonely}]
    read = api.post(f"{api.base}/crm/v4/associations/deals/line_items/batch/read", json={"inputs": inputs})
    body = read.json()
    assert read.status_code == 207 and body["numErrors"] == 1
    assert [t["toObjectId"] for t in body["results"][0]["to"]] == [int(item) for item in items]
    assert body["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    reverse = api.post(f"{api.base}/crm/v4/associations/company/deal/batch/read", json={"inputs": [{"id": company}]})
    assert [t["toObjectId"] for t in reverse.json()["results"][0]["to"]] == [int(deal)]

    too_many = {"inputs": [{"id": str(n)} for n in range(1_001)]}
    assert api.post(f"{api.base}/crm/v4/associations/deals/companies/batch/read", json=too_many).status_code == 400


def test_requests_without_the_token_are_refused_without_echoing_it(standin):
    with standin.serving() as base_url:
        missing = requests.get(f"{base_url}/crm/v3/objects/companies")
        wrong = requests.get(f"{base_url}/crm/v3/objects/companies", headers={"Authorization": "Bearer pat-wrong"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["category"] == "INVALID_AUTHENTICATION"
    assert missing.json()["message"].startswith("Authentication credentials not found.")
    assert "pat-wrong" not in wrong.text and TOKEN not in wrong.text


def test_seeding_from_the_sandbox_company(api, standin):
    accounts, subscriptions, items = app_company(date(2025, 6, 30), accounts=20)
    standin.seed_from_sandbox(accounts, subscriptions, items)

    companies = list_all(api, "companies", limit=100, properties="name,external_customer_id,city")[0]
    archived = list_all(api, "companies", archived="true")[0]
    deleted = [a for a in accounts if a.deleted_at is not None]
    assert len(companies) + len(archived) == len(accounts) and len(archived) == len(deleted) > 0
    with_id = [c for c in companies if c["properties"]["external_customer_id"]]
    live = len(accounts) - len(deleted)
    assert live * 0.85 - 2 <= len(with_id) < live
    deals = list_all(api, "deals", limit=100, properties="contract_start_date__zenskar_,deal_currency_code")[0]
    line_items = list_all(api, "line_items", limit=100, properties="hs_sku,price,quantity,hs_product_id")[0]
    products = list_all(api, "products", properties="hs_sku,recurringbillingfrequency")[0]
    assert len(deals) == sum(s.deleted_at is None for s in subscriptions)
    assert len(line_items) == sum(i.subscription.deleted_at is None for i in items)
    assert {p["properties"]["hs_sku"] for p in products} == {i.product.code for i in items}

    first = next(s for s in subscriptions if s.deleted_at is None)  # deals[0], of companies[0]
    deal = deals[0]["properties"]
    assert deal["contract_start_date__zenskar_"] == first.start_date.isoformat()
    assert deal["deal_currency_code"] == first.account.profile.currency
    plan_item = next(li for li in line_items if li["properties"]["hs_sku"] == first.plan.code)
    assert plan_item["properties"]["quantity"] == "1"
    assert plan_item["properties"]["hs_product_id"] in {p["id"] for p in products}

    company = with_id[0]
    external_id = company["properties"]["external_customer_id"]
    by_external_id = {"propertyName": "external_customer_id", "operator": "EQ", "value": external_id.lower()}
    found = search(api, "companies", filterGroups=[{"filters": [by_external_id]}]).json()
    assert [r["id"] for r in found["results"]] == [company["id"]]
    read = api.post(
        f"{api.base}/crm/v4/associations/deals/companies/batch/read", json={"inputs": [{"id": deals[0]["id"]}]}
    )
    assert read.json()["results"][0]["to"][0]["toObjectId"] == int(companies[0]["id"])
