"""The manual entry forms over real HTTP: who may use them, errors next to their fields with
nothing landed, and saved records landed exactly as the JSON API lands them.

The tests share one API (the `api` fixture) and keep to record ids of their own (`ids`)."""

from __future__ import annotations

import re

import httpx
import pytest

from billing_pipelines_tests.ingest_api.test_push_api import landed_rows

ALL_SCOPES = ("customers:write", "contracts:write", "usage:write")


def customer(ids: str, **changes: str) -> dict[str, str]:
    return {"external_id": f"{ids}CUS-7", "name": "Acme GmbH", "country": "DE", "currency": "EUR"} | changes


def adjustment(ids: str, **changes: str) -> dict[str, str]:
    return {
        "customer_id": f"{ids}CUS-7",
        "metric": "api_calls",
        "timestamp": "2026-09-01T10:00:00Z",
        "quantity": "-250.5",
        "note": "credit for the outage of 1 September",
    } | changes


def clerk(api, *scopes: str, name: str = "billing-ops") -> httpx.Client:
    """A browser-like client: the key as Basic password, posting from the server's own pages."""
    key = api.key(*(scopes or ALL_SCOPES), name=name)
    return httpx.Client(base_url=api.url, auth=("anyone", key), headers={"Origin": api.url}, timeout=30)


def field_error(page: httpx.Response, name: str) -> str | None:
    """The error shown next to field `name`, if any."""
    found = re.search(rf'<p class="error" id="error-{re.escape(name)}">(.*?)</p>', page.text)
    return found and found.group(1)


def rendered_event_id(page: httpx.Response) -> str:
    return re.search(r'name="event_id" value="([^"]+)"', page.text).group(1)


def test_without_a_valid_key_the_browser_is_asked_for_one(api):
    for credentials in (None, ("anyone", "bpk_000000000000_not-a-real-secret")):
        for path in ("/manual", "/manual/customer"):
            answer = httpx.get(api.url + path, auth=credentials)
            assert answer.status_code == 401, path
            assert answer.headers["WWW-Authenticate"] == 'Basic realm="billing manual entry"'


def test_each_form_needs_its_scope_and_the_index_shows_only_usable_forms(api, ids):
    with clerk(api, "customers:write") as client:
        index = client.get("/manual")
        assert client.get("/manual/customer").status_code == 200
        assert client.get("/manual/usage-adjustment").status_code == 403
        assert client.post("/manual/contract", data={"contract_id": f"{ids}K-1"}).status_code == 403
    assert index.status_code == 200
    assert 'href="/manual/customer"' in index.text and 'href="/manual/contract"' not in index.text
    assert "lacks the scope <code>contracts:write</code>" in index.text


def test_a_form_posted_from_another_site_is_refused_and_lands_nothing(api, ids):
    sent = customer(ids)
    with clerk(api) as client:
        foreign = client.post("/manual/customer", data=sent, headers={"Origin": "https://evil.example"})
        unsigned = client.post("/manual/customer", data=sent, headers={"Origin": ""})
        referred = client.post(
            "/manual/customer", data=sent, headers={"Origin": "", "Referer": f"{api.url}/manual/customer"}
        )
    assert foreign.status_code == unsigned.status_code == 403
    assert foreign.json()["error"]["type"] == "cross_site_form"
    assert referred.status_code == 200
    assert [row["external_id"] for row in landed_rows(api, "customers", ids)] == [sent["external_id"]]


def test_customer_errors_show_next_to_their_fields_with_the_values_kept_and_nothing_landed(api, ids):
    sent = customer(ids, name="", country="Germany", currency="eur", city='<script>alert("x")</script>')
    with clerk(api) as client:
        page = client.post("/manual/customer", data=sent)
    assert page.status_code == 422
    assert field_error(page, "name") == "Field required"
    assert field_error(page, "country").startswith("String should match pattern")
    assert field_error(page, "currency").startswith("String should match pattern")
    assert field_error(page, "external_id") is None
    assert 'id="country" name="country" type="text" value="Germany"' in page.text
    assert "<script>" not in page.text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert landed_rows(api, "customers", ids) == []
    assert [row for row in landed_rows(api, "rejected_records") if ids in row["payload"]] == []


def test_a_saved_customer_lands_the_row_the_json_api_lands(api, ids):
    with clerk(api) as client:
        saved = client.post("/manual/customer", data=customer(ids, email="", line2="  "))
    with api.client(api.key("customers:write")) as json_client:
        assert json_client.post("/v1/customers", json=[customer(ids)]).status_code == 202
    assert saved.status_code == 200
    assert '<h1 id="saved">Customer saved</h1>' in saved.text
    landing_file = re.search(r'id="landing-file-customers">customers/(api-[^<]+\.csv)<', saved.text).group(1)
    from_form, from_api = landed_rows(api, "customers", ids)
    assert {**from_form, "updated_at": ""} == {**from_api, "updated_at": ""}
    assert from_form["email"] == from_form["line2"] == ""
    assert list(api.landing.glob(f"**/customers/{landing_file}")), "the file the page names (in the spool or inbox)"


def test_a_contract_keeps_its_filled_item_rows_and_points_errors_at_the_row(api, ids):
    contract = {
        "contract_id": f"{ids}K-1",
        "customer_id": f"{ids}CUS-7",
        "status": "active",
        "currency": "EUR",
        "start_date": "2026-09-01",
        "items-0-product_id": "seat",
        "items-0-pricing_model": "per_unit",
        "items-0-unit_amount": "12.50",
        "items-2-product_id": "api",
        "items-2-pricing_model": "tiered",
        "items-2-metric": "api_calls",
        "items-2-quantity": "many",
    }
    with clerk(api) as client:
        refused = client.post("/manual/contract", data=contract)
        saved = client.post("/manual/contract", data=contract | {"items-2-quantity": "1000"})
    assert refused.status_code == 422
    assert field_error(refused, "items-2-quantity") == "Input should be a valid decimal"
    assert 'id="items-0-unit_amount" name="items-0-unit_amount" type="text" value="12.50"' in refused.text
    assert saved.status_code == 200
    [row] = landed_rows(api, "contracts", ids)
    assert (row["contract_id"], row["customer_external_id"], row["end_date"]) == (f"{ids}K-1", f"{ids}CUS-7", "")
    items = landed_rows(api, "contract_items", ids)
    assert [(item["product_id"], item["unit_amount"], item["quantity"]) for item in items] == [
        ("seat", "12.50", ""),
        ("api", "", "1000"),
    ]


def test_a_usage_adjustment_lands_once_with_its_note_even_when_submitted_twice(api, ids):
    with clerk(api, "usage:write", name="ops-anna") as client:
        event_id = rendered_event_id(client.get("/manual/usage-adjustment"))
        form = adjustment(ids, event_id=event_id)
        refused = client.post("/manual/usage-adjustment", data=form | {"quantity": "abc", "note": ""})
        saved = client.post("/manual/usage-adjustment", data=form)
        again = client.post("/manual/usage-adjustment", data=form)
    assert event_id.startswith("manual-")
    assert refused.status_code == 422
    assert field_error(refused, "quantity") == "Input should be a valid decimal"
    assert field_error(refused, "note") == "say why usage is adjusted"
    assert rendered_event_id(refused) == event_id
    assert saved.status_code == again.status_code == 200
    assert "Usage adjustment already saved" in again.text
    with api.client(api.key("usage:write")) as json_client:
        pushed = json_client.post(
            "/v1/usage-events", json=[{k: v for k, v in form.items() if k != "note"} | {"event_id": event_id}]
        ).json()
    # the same id pushed without the form's note is another delivery: landed, and the canonical
    # model keeps the form's and quarantines this one as a conflicting duplicate
    assert pushed["accepted"] == [0] and pushed["duplicates"] == []
    row, pushed_row = [row for row in landed_rows(api, "usage_events") if row["event_id"] == event_id]
    assert pushed_row["properties"] == ""
    assert (row["customer_external_id"], row["quantity"]) == (f"{ids}CUS-7", "-250.5")
    assert row["event_timestamp"] == "2026-09-01T10:00:00Z"
    assert row["properties"] == (
        '{"adjustment":true,"note":"credit for the outage of 1 September","entered_by":"ops-anna"}'
    )


@pytest.mark.parametrize(
    "timestamp, error",
    [
        ("2026-09-01T10:00:00", "Input should have timezone info"),
        ("2026-07-31T23:59:59Z", "is before history_start 2026-08-01"),
        ("2099-01-01T00:00:00Z", "minutes in the future"),
    ],
)
def test_an_adjustment_outside_the_event_time_range_is_refused_at_the_timestamp(api, ids, timestamp, error):
    with clerk(api, "usage:write") as client:
        page = client.post("/manual/usage-adjustment", data=adjustment(ids, timestamp=timestamp, event_id=f"{ids}m-1"))
    assert page.status_code == 422
    assert error in field_error(page, "timestamp")
    assert landed_rows(api, "usage_events", ids) == []
