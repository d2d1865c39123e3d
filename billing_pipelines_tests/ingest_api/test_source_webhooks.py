"""Source webhooks: only deliveries Stripe or HubSpot signed are recorded, each as one more change
of its source for the sync sensor; anything forged, replayed or unconfigured records nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import fastapi
import httpx
import pytest
import uvicorn

from billing_pipelines.config import BillingConfig
from billing_pipelines.ingest_api.errors import install_error_handlers
from billing_pipelines.ingest_api.source_webhooks import router
from billing_pipelines.lib.source_changes import (
    RECENT_EVENTS_KEPT,
    NoWebhookSource,
    SignatureRejected,
    change_marker_path,
    hubspot_signature,
    hubspot_signed_uri,
    read_change_marker,
    record_change,
    stripe_signature,
    verify_hubspot_signature,
    verify_stripe_signature,
    webhook_source,
)

STRIPE_SECRET_ENV = "TEST_BILLING_STRIPE_WEBHOOK_SECRET"
HUBSPOT_SECRET_ENV = "TEST_BILLING_HUBSPOT_CLIENT_SECRET"
STRIPE_SECRET = "whsec_test_0123456789abcdef"
HUBSPOT_SECRET = "hubspot-client-secret-0123"
NOW = 1_795_000_000.0
STRIPE_EVENT = json.dumps({"id": "evt_1", "type": "customer.updated", "data": {"object": {"id": "cus_1"}}}).encode()
HUBSPOT_BATCH = json.dumps(
    [
        {"eventId": 101, "subscriptionType": "company.propertyChange", "objectId": 7, "occurredAt": 1},
        {"eventId": 102, "subscriptionType": "deal.creation", "objectId": 8, "occurredAt": 2},
    ]
).encode()
SOURCES = (
    "sources:\n"
    f"  payments: {{kind: stripe, api_key_env: STRIPE_KEY, webhook_secret_env: {STRIPE_SECRET_ENV}}}\n"
    f"  crm: {{kind: hubspot, token_env: HUBSPOT_KEY, client_secret_env: {HUBSPOT_SECRET_ENV}}}\n"
)


def stripe_header(body: bytes, secret: str = STRIPE_SECRET, at: float = NOW) -> str:
    return f"t={int(at)},v1={stripe_signature(secret, str(int(at)), body)}"


# -- Stripe-Signature ---------------------------------------------------------------------------


def test_a_stripe_signature_over_the_raw_body_is_accepted():
    verify_stripe_signature(stripe_header(STRIPE_EVENT), STRIPE_EVENT, STRIPE_SECRET, NOW + 10)


def test_any_v1_signature_may_match_while_stripe_rolls_the_secret():
    old = f"v1={stripe_signature('whsec_old', str(int(NOW)), STRIPE_EVENT)}"
    verify_stripe_signature(f"{stripe_header(STRIPE_EVENT)},{old},v0=ignored", STRIPE_EVENT, "whsec_old", NOW)


@pytest.mark.parametrize(
    ("header", "body", "secret", "now", "reason"),
    [
        (stripe_header(STRIPE_EVENT), STRIPE_EVENT + b" ", STRIPE_SECRET, NOW, "does not match"),
        (stripe_header(STRIPE_EVENT, secret="whsec_other"), STRIPE_EVENT, STRIPE_SECRET, NOW, "does not match"),
        (stripe_header(STRIPE_EVENT), STRIPE_EVENT, STRIPE_SECRET, NOW + 301, "more than 300 s old"),
        (None, STRIPE_EVENT, STRIPE_SECRET, NOW, "missing Stripe-Signature"),
        ("v1=abc", STRIPE_EVENT, STRIPE_SECRET, NOW, "malformed"),
        (f"t={int(NOW)}", STRIPE_EVENT, STRIPE_SECRET, NOW, "malformed"),
        ("t=yesterday,v1=abc", STRIPE_EVENT, STRIPE_SECRET, NOW, "malformed"),
        (f"t={int(NOW)},t={int(NOW)},v1=abc", STRIPE_EVENT, STRIPE_SECRET, NOW, "malformed"),
    ],
    ids=["forged body", "wrong secret", "stale", "missing", "no timestamp", "no v1", "bad timestamp", "two timestamps"],
)
def test_a_stripe_delivery_that_is_not_proven_is_refused(header, body, secret, now, reason):
    with pytest.raises(SignatureRejected, match=reason) as refused:
        verify_stripe_signature(header, body, secret, now)
    assert secret not in str(refused.value)


# -- X-HubSpot-Signature-v3 -------------------------------------------------------------------------

HUBSPOT_URI = "https://billing.example.com/v1/webhooks/hubspot"


def hubspot_headers(uri: str, body: bytes, secret: str = HUBSPOT_SECRET, at: float = NOW) -> dict[str, str]:
    timestamp = str(int(at * 1000))
    return {
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", uri, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def verify_hubspot(headers: dict, body: bytes = HUBSPOT_BATCH, secret: str = HUBSPOT_SECRET, now: float = NOW):
    signature, timestamp = headers.get("X-HubSpot-Signature-v3"), headers.get("X-HubSpot-Request-Timestamp")
    verify_hubspot_signature(signature, timestamp, "POST", HUBSPOT_URI, body, secret, now)


def test_a_hubspot_signature_over_method_uri_body_and_timestamp_is_accepted():
    verify_hubspot(hubspot_headers(HUBSPOT_URI, HUBSPOT_BATCH), now=NOW + 10)


def test_hubspot_signs_the_uri_with_its_listed_escapes_decoded_and_others_kept():
    assert hubspot_signed_uri("https://h/p?a=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=x%20y%26z") == (
        "https://h/p?a=:/?@!$'()*,;&b=x%20y%26z"
    )


@pytest.mark.parametrize(
    ("headers", "body", "now", "reason"),
    [
        (hubspot_headers(HUBSPOT_URI, HUBSPOT_BATCH), HUBSPOT_BATCH + b" ", NOW, "does not match"),
        (hubspot_headers(HUBSPOT_URI, HUBSPOT_BATCH, secret="other"), HUBSPOT_BATCH, NOW, "does not match"),
        (hubspot_headers(HUBSPOT_URI + "?x=1", HUBSPOT_BATCH), HUBSPOT_BATCH, NOW, "does not match"),
        (hubspot_headers(HUBSPOT_URI, HUBSPOT_BATCH), HUBSPOT_BATCH, NOW + 301, "more than 300 s old"),
        ({"X-HubSpot-Request-Timestamp": str(int(NOW * 1000))}, HUBSPOT_BATCH, NOW, "missing"),
        ({"X-HubSpot-Signature-v3": "abc=", "X-HubSpot-Request-Timestamp": "now"}, HUBSPOT_BATCH, NOW, "malformed"),
    ],
    ids=["forged body", "wrong secret", "other uri", "stale", "missing signature", "bad timestamp"],
)
def test_a_hubspot_delivery_that_is_not_proven_is_refused(headers, body, now, reason):
    with pytest.raises(SignatureRejected, match=reason) as refused:
        verify_hubspot(headers, body, now=now)
    assert HUBSPOT_SECRET not in str(refused.value)


# -- which source a path means -------------------------------------------------------------------


def test_the_kind_path_means_its_one_receiving_source_and_a_name_picks_among_several(project_config):
    config = project_config(SOURCES + f"  shop: {{kind: stripe, webhook_secret_env: {STRIPE_SECRET_ENV}}}\n")
    assert webhook_source(config, "hubspot", None)[0] == "crm"
    assert webhook_source(config, "stripe", "shop")[0] == "shop"
    with pytest.raises(NoWebhookSource, match=r"several stripe sources .*\(payments, shop\).*/v1/webhooks/stripe/<"):
        webhook_source(config, "stripe", None)
    with pytest.raises(NoWebhookSource, match="'crm' does not receive stripe webhooks"):
        webhook_source(config, "stripe", "crm")
    with pytest.raises(NoWebhookSource, match="no webhooks for 'paypal'"):
        webhook_source(config, "paypal", None)


def test_a_source_without_its_secret_setting_or_disabled_receives_nothing(project_config):
    config = project_config(
        "sources:\n"
        "  payments: {kind: stripe}\n"
        f"  crm: {{kind: hubspot, enabled: false, client_secret_env: {HUBSPOT_SECRET_ENV}}}\n"
    )
    with pytest.raises(NoWebhookSource, match="set `webhook_secret_env` of a `kind: stripe` source"):
        webhook_source(config, "stripe", None)
    with pytest.raises(NoWebhookSource, match="no hubspot source receives webhooks"):
        webhook_source(config, "hubspot", None)


# -- the change marker ----------------------------------------------------------------------------


def test_each_delivery_counts_one_change_and_the_marker_keeps_the_latest_events(tmp_path):
    for number in range(RECENT_EVENTS_KEPT + 5):
        at = datetime(2026, 11, 27, 9, 0, number, tzinfo=UTC)
        record_change(tmp_path, "payments", "stripe", [{"id": f"evt_{number}", "type": "invoice.paid"}], at)
    marker = read_change_marker(change_marker_path(tmp_path, "payments"))
    assert marker.changes == RECENT_EVENTS_KEPT + 5
    assert marker.last_change_at == datetime(2026, 11, 27, 9, 0, RECENT_EVENTS_KEPT + 4, tzinfo=UTC)
    assert [event["id"] for event in marker.recent_events] == [f"evt_{n}" for n in range(5, RECENT_EVENTS_KEPT + 5)]
    assert sorted(path.name for path in tmp_path.joinpath(".source_changes").iterdir()) == [
        "payments.json",
        "payments.lock",
    ]


# -- over real HTTP --------------------------------------------------------------------------------


@contextmanager
def serving(config: BillingConfig) -> Iterator[str]:
    """The webhook routes in an app of their own, served by uvicorn on a free loopback port."""
    app = fastapi.FastAPI()
    app.state.services = types.SimpleNamespace(config=config)
    install_error_handlers(app)
    app.include_router(router)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture
def webhook_api(project_config, monkeypatch):
    monkeypatch.setenv(STRIPE_SECRET_ENV, STRIPE_SECRET)
    monkeypatch.setenv(HUBSPOT_SECRET_ENV, HUBSPOT_SECRET)
    config = project_config(SOURCES)
    with serving(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield config, client


def marker_of(config: BillingConfig, source: str):
    return read_change_marker(change_marker_path(config.landing_path, source))


def test_a_signed_stripe_event_is_accepted_and_recorded(webhook_api):
    config, client = webhook_api
    header = stripe_header(STRIPE_EVENT, at=time.time())
    answer = client.post("/v1/webhooks/stripe", content=STRIPE_EVENT, headers={"Stripe-Signature": header})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"source": "payments", "received": 1, "changes": 1}
    marker = marker_of(config, "payments")
    assert (marker.kind, marker.changes) == ("stripe", 1)
    assert [(e["id"], e["type"]) for e in marker.recent_events] == [("evt_1", "customer.updated")]


def test_a_signed_hubspot_batch_is_accepted_and_recorded_even_with_escapes_in_its_url(webhook_api):
    config, client = webhook_api
    path = "/v1/webhooks/hubspot?portal=acme%3Aeu"
    headers = hubspot_headers(str(client.base_url.join(path)), HUBSPOT_BATCH, at=time.time())
    answer = client.post(path, content=HUBSPOT_BATCH, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"source": "crm", "received": 2, "changes": 1}
    assert [(e["id"], e["type"]) for e in marker_of(config, "crm").recent_events] == [
        ("101", "company.propertyChange"),
        ("102", "deal.creation"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        lambda: {"Stripe-Signature": stripe_header(STRIPE_EVENT + b"tampered", at=time.time())},
        lambda: {"Stripe-Signature": stripe_header(STRIPE_EVENT, secret="whsec_wrong", at=time.time())},
        lambda: {"Stripe-Signature": stripe_header(STRIPE_EVENT, at=time.time() - 600)},
        lambda: {},
    ],
    ids=["forged", "wrong secret", "stale", "unsigned"],
)
def test_an_unproven_stripe_delivery_gets_401_and_records_nothing(webhook_api, headers):
    config, client = webhook_api
    answer = client.post("/v1/webhooks/stripe", content=STRIPE_EVENT, headers=headers())
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_signature"
    assert STRIPE_SECRET not in answer.text
    assert marker_of(config, "payments") is None


@pytest.mark.parametrize(
    ("secret", "age"), [(HUBSPOT_SECRET + "x", 0), (HUBSPOT_SECRET, 600)], ids=["wrong secret", "stale"]
)
def test_an_unproven_hubspot_delivery_gets_401_and_records_nothing(webhook_api, secret, age):
    config, client = webhook_api
    url = str(client.base_url.join("/v1/webhooks/hubspot"))
    headers = hubspot_headers(url, HUBSPOT_BATCH, secret=secret, at=time.time() - age)
    answer = client.post("/v1/webhooks/hubspot", content=HUBSPOT_BATCH, headers=headers)
    assert answer.status_code == 401 and HUBSPOT_SECRET not in answer.text
    assert marker_of(config, "crm") is None


def test_a_named_source_is_reached_by_its_path(webhook_api):
    config, client = webhook_api
    header = stripe_header(STRIPE_EVENT, at=time.time())
    answer = client.post("/v1/webhooks/stripe/payments", content=STRIPE_EVENT, headers={"Stripe-Signature": header})
    assert answer.status_code == 200 and marker_of(config, "payments").changes == 1


def test_a_signed_body_that_is_not_an_event_gets_400(webhook_api):
    config, client = webhook_api
    header = stripe_header(b"[]", at=time.time())
    answer = client.post("/v1/webhooks/stripe", content=b"[]", headers={"Stripe-Signature": header})
    assert answer.status_code == 400 and "expected a Stripe event object" in answer.json()["error"]["message"]
    assert marker_of(config, "payments") is None


def test_unconfigured_webhooks_get_404_saying_how_to_enable_them(project_config):
    config = project_config("sources:\n  payments: {kind: stripe}\n")
    with serving(config) as url:
        stripe = httpx.post(f"{url}/v1/webhooks/stripe", content=STRIPE_EVENT)
        hubspot = httpx.post(f"{url}/v1/webhooks/hubspot/crm", content=HUBSPOT_BATCH)
        unknown = httpx.post(f"{url}/v1/webhooks/paypal", content=b"{}")
    assert stripe.status_code == hubspot.status_code == unknown.status_code == 404
    assert "set `webhook_secret_env` of a `kind: stripe` source" in stripe.json()["error"]["message"]
    assert "'crm' does not receive hubspot webhooks" in hubspot.json()["error"]["message"]
    assert not (config.landing_path / ".source_changes").exists()


def test_a_secret_variable_missing_from_the_environment_gets_503_naming_it(webhook_api, monkeypatch):
    config, client = webhook_api
    monkeypatch.delenv(STRIPE_SECRET_ENV)
    answer = client.post("/v1/webhooks/stripe", content=STRIPE_EVENT, headers={"Stripe-Signature": "t=1,v1=00"})
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == f"payments: environment variable {STRIPE_SECRET_ENV} is not set"
