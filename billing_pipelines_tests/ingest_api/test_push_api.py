"""The push API over real HTTP: who may push, what each record becomes, retries that never
double-count, and limits that answer 4xx, never 500."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta

import pytest

USAGE_HEADER = "event_id,customer_external_id,metric,quantity,event_timestamp,properties"


def event(event_id: str | None = "e-1", **changes) -> dict:
    record = {
        "event_id": event_id,
        "customer_id": "cust-1",
        "metric": "api_calls",
        "timestamp": "2026-11-20T10:00:00Z",
        "quantity": "1.5",
        "properties": {"region": "eu"},
    }
    return (
        {**record, **changes}
        if event_id is not None
        else {k: v for k, v in {**record, **changes}.items() if k != "event_id"}
    )


def landed_rows(api, dataset: str, ids: str = "") -> list[dict]:
    """The rows the API landed for `dataset` (open spool files and sealed inbox files) with a
    value starting with `ids`, in the order they landed."""
    files = sorted(api.landing.glob(f"{dataset}/api-*.csv")) + sorted(api.landing.glob(f".spool/*/{dataset}/*.csv"))
    rows = [row for path in files for row in csv.DictReader(path.open())]
    return [row for row in rows if any(value.startswith(ids) for value in row.values())]


# -- who may push ---------------------------------------------------------------------------


def test_a_missing_or_unknown_key_gets_401_and_a_key_without_the_scope_403(api, ids):
    with api.client() as anonymous:
        missing = anonymous.post("/v1/usage-events", json=[event(ids + "1")])
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["error"]["message"]

    with api.client("bpk_000000000000_not-a-real-secret") as stranger:
        unknown = stranger.post("/v1/usage-events", json=[event(ids + "2")])
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"] == "unknown or revoked API key"

    customers_only = api.key("customers:write")
    with api.client(customers_only) as client:
        forbidden = client.post("/v1/usage-events", json=[event(ids + "3")])
        allowed = client.post("/v1/customers", json=[{"external_id": ids + "cust", "name": "Acme"}])
    assert forbidden.status_code == 403
    assert "usage:write" in forbidden.json()["error"]["message"]
    assert allowed.status_code == 202
    assert landed_rows(api, "usage_events", ids) == []


def test_a_key_with_a_wrong_secret_is_refused_and_never_logged(start_api):
    api = start_api()
    key = api.key("usage:write")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    with api.client(forged) as client:
        assert client.post("/v1/usage-events", json=[event()]).status_code == 401
    with api.client(key) as client:
        assert client.post("/v1/usage-events", json=[event()]).status_code == 202
    api.stop()
    log = api.log()
    assert key.split("_")[-1] not in log and forged.split("_")[-1] not in log


def test_a_revoked_key_is_refused_within_seconds(api, ids):
    from billing_pipelines.config import load_config
    from billing_pipelines.ingest_api.keys import KeyStore
    from billing_pipelines.ingest_api.state import open_state

    key = api.key("usage:write")
    with api.client(key) as client:
        assert client.post("/v1/usage-events", json=[event(ids + "1")]).status_code == 202
        store = KeyStore(open_state(load_config(api.config_path).ingest_api_state_path))
        assert store.revoke(key.split("_")[1])
        time.sleep(1.2)
        assert client.post("/v1/usage-events", json=[event(ids + "2")]).status_code == 401


def test_a_key_sending_faster_than_its_rate_gets_429_with_retry_after(start_api):
    api = start_api("requests_per_second: 1\nburst: 3")
    key = api.key("usage:write")
    with api.client(key) as client:
        answers = [client.post("/v1/usage-events", json=[event(f"rate-{n}")]) for n in range(5)]
        other_key = api.key("usage:write", name="other")
        with api.client(other_key) as other:
            assert other.post("/v1/usage-events", json=[event("other-1")]).status_code == 202
    assert [answer.status_code for answer in answers[:3]] == [202, 202, 202]
    limited = answers[3]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert {row["event_id"] for row in landed_rows(api, "usage_events")} == {"rate-0", "rate-1", "rate-2", "other-1"}


# -- what each record becomes ---------------------------------------------------------------


def test_each_event_is_accepted_duplicate_or_rejected_with_its_index_and_reason(api, ids):
    now = datetime.now(UTC)
    batch = [
        event(ids + "ok-1"),
        event(ids + "ok-1"),  # the same id again in the request
        event(ids + "bad-quantity", quantity="lots"),
        event(ids + "no-zone", timestamp="2026-11-20T10:00:00"),
        event(ids + "too-early", timestamp="2026-07-31T23:59:59Z"),
        event(ids + "too-late", timestamp=(now + timedelta(hours=2)).isoformat()),
        event(ids + "missing-customer", customer_id=None),
        event(ids + "nan", quantity="NaN"),
        event(ids + "precise", quantity="0.0000000001"),
        "not an object",
        event(
            None, customer_id=ids + "anonymous", quantity=3
        ),  # no event_id: accepted, deduplicated by content downstream
        event(ids + "ok-2", quantity=-2, properties=None),
    ]
    with api.client(api.key("usage:write")) as client:
        answer = client.post("/v1/usage-events", json=batch)
    assert answer.status_code == 202
    result = answer.json()
    assert result["accepted"] == [0, 10, 11]
    assert result["duplicates"] == [{"index": 1, "event_id": ids + "ok-1"}]
    reasons = {rejected["index"]: rejected["reason"] for rejected in result["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert reasons[2].startswith("quantity: ")
    assert reasons[3].startswith("timestamp: ") and "timezone" in reasons[3]
    assert "before history_start 2026-08-01" in reasons[4]
    assert "more than 60 minutes in the future" in reasons[5]
    assert reasons[6].startswith("customer_id: ")
    assert reasons[7].startswith("quantity: ")
    assert reasons[8] == "quantity: Decimal input should have no more than 9 decimal places"
    assert reasons[9] == "must be a JSON object"

    landed = landed_rows(api, "usage_events", ids)
    assert [(row["event_id"], row["customer_external_id"], row["quantity"], row["properties"]) for row in landed] == [
        (ids + "ok-1", "cust-1", "1.5", '{"region":"eu"}'),
        ("", ids + "anonymous", "3", '{"region":"eu"}'),
        (ids + "ok-2", "cust-1", "-2", ""),
    ]
    assert landed[0]["event_timestamp"] == "2026-11-20T10:00:00Z"


def test_rejected_events_land_for_the_quarantine_with_request_index_reason_and_payload(api, ids):
    with api.client(api.key("usage:write")) as client:
        batch = [event(ids + "fine"), event(ids + "broken", quantity="x")]
        result = client.post("/v1/usage-events", json=batch).json()
    rejected = [row for row in landed_rows(api, "rejected_records") if result["request_id"] in row["location"]]
    assert len(rejected) == 1
    assert rejected[0]["dataset"] == "usage_events"
    assert rejected[0]["location"] == f"usage_events request {result['request_id']} index 1"
    assert rejected[0]["reason"] == result["rejected"][0]["reason"]
    assert '"quantity":"x"' in rejected[0]["payload"]


def test_an_event_already_landed_is_a_duplicate_in_a_later_request_and_other_values_land(api, ids):
    with api.client(api.key("usage:write")) as client:
        first = client.post("/v1/usage-events", json=[event(ids + "once"), event(ids + "a")]).json()
        second = client.post("/v1/usage-events", json=[event(ids + "once"), event(ids + "b")]).json()
        third = client.post("/v1/usage-events", json=[event(ids + "once", quantity=9)]).json()
    assert first["accepted"] == [0, 1]
    assert second["accepted"] == [1]
    assert second["duplicates"] == [{"index": 0, "event_id": ids + "once"}]
    # the same id with other values is landed: canonical keeps the first and quarantines this one
    assert third["accepted"] == [0] and third["duplicates"] == []
    landed = [(row["event_id"], row["quantity"]) for row in landed_rows(api, "usage_events", ids)]
    assert landed == [(ids + "once", "1.5"), (ids + "a", "1.5"), (ids + "b", "1.5"), (ids + "once", "9")]


def test_customers_and_contracts_land_as_their_landing_rows(api, ids):
    key = api.key("customers:write", "contracts:write")
    contract = {
        "contract_id": ids + "ct-1",
        "customer_id": ids + "cust",
        "status": "active",
        "currency": "EUR",
        "start_date": "2026-09-01",
        "items": [
            {"product_id": "api", "pricing_model": "per_unit", "unit_amount": "0.002", "metric": "api_calls"},
            {"product_id": "seat", "pricing_model": "flat_fee", "unit_amount": 10, "billing_period": "P1M"},
        ],
    }
    with api.client(key) as client:
        customers = client.post("/v1/customers", json=[{"external_id": ids + "cust", "name": "Acme", "country": "DE"}])
        contracts = client.post(
            "/v1/contracts", json=[contract, {**contract, "contract_id": ids + "ct-2", "currency": "euro"}]
        )
    assert customers.json()["accepted"] == [0]
    assert contracts.json()["accepted"] == [0]
    assert contracts.json()["rejected"][0]["reason"].startswith("currency: ")
    (customer,) = landed_rows(api, "customers", ids)
    assert customer["external_id"] == ids + "cust" and customer["country"] == "DE" and customer["updated_at"]
    (stored_contract,) = landed_rows(api, "contracts", ids)
    assert stored_contract["customer_external_id"] == ids + "cust" and stored_contract["end_date"] == ""
    items = landed_rows(api, "contract_items", ids)
    assert [(item["contract_id"], item["product_id"], item["unit_amount"]) for item in items] == [
        (ids + "ct-1", "api", "0.002"),
        (ids + "ct-1", "seat", "10"),
    ]


# -- retries --------------------------------------------------------------------------------


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api, ids):
    with api.client(api.key("usage:write")) as client:
        headers = {"Idempotency-Key": ids + "batch-42"}
        first = client.post("/v1/usage-events", json=[event(ids + "1")], headers=headers)
        replay = client.post("/v1/usage-events", json=[event(ids + "1")], headers=headers)
        other_body = client.post("/v1/usage-events", json=[event(ids + "2")], headers=headers)
    assert first.status_code == replay.status_code == 202
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 409
    assert "different request" in other_body.json()["error"]["message"]
    assert [row["event_id"] for row in landed_rows(api, "usage_events", ids)] == [ids + "1"]


def test_idempotency_keys_belong_to_their_api_key(api, ids):
    body = [event(ids + "1")]
    with api.client(api.key("usage:write", name="a")) as a, api.client(api.key("usage:write", name="b")) as b:
        first = a.post("/v1/usage-events", json=body, headers={"Idempotency-Key": ids})
        second = b.post("/v1/usage-events", json=body, headers={"Idempotency-Key": ids})
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["duplicates"] == [{"index": 0, "event_id": ids + "1"}]
    assert first.json()["accepted"] == [0]


# -- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"[{", 400, "not valid JSON"),
        (b'{"event_id": "x"}', 422, "JSON array"),
        (b"[]", 422, "1 to 1000 records"),
        (b"[" + b",".join([b"{}"] * 1001) + b"]", 422, "not 1001"),
        (b"\xff\xfe", 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(api, body, status, message):
    with api.client(api.key("usage:write")) as client:
        answer = client.post("/v1/usage-events", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["error"]["message"]


def test_a_body_over_the_limit_gets_413_before_anything_lands(start_api):
    api = start_api("max_body_bytes: 2048")
    with api.client(api.key("usage:write")) as client:
        too_big = client.post("/v1/usage-events", json=[event(f"big-{n}") for n in range(40)])
        streamed = client.post(
            "/v1/usage-events",
            content=iter([b"[", b" " * 4096, b"]"]),
            headers={"Content-Type": "application/json"},
        )
    assert too_big.status_code == 413 and streamed.status_code == 413
    assert "2048" in too_big.json()["error"]["message"]
    assert landed_rows(api, "usage_events") == []


def test_health_and_openapi_need_no_key(api):
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/usage-events", "/v1/customers", "/v1/contracts", "/v1/uploads/{dataset}"} <= set(paths)
