"""Delivering ingestion events over real HTTP on loopback: signed so the receiver's
standardwebhooks verifies them, retried on 5xx with the same webhook-id, never on a refusal,
and a receiver that is down costs the others nothing."""

from dataclasses import replace
from datetime import UTC, datetime

from billing_pipelines.config import parse_config
from billing_pipelines.defs.alerts.messages import Scrubber
from billing_pipelines.defs.webhooks.deliveries import (
    DELIVERY_ATTEMPTS,
    EVENTS_QUARANTINED,
    UPLOAD_PROCESSED,
    WebhookEvent,
    deliver,
    delivery_policy,
    receivers_from,
)
from billing_pipelines_tests.alerts.conftest import Captured
from billing_pipelines_tests.alerts.receivers import free_port
from billing_pipelines_tests.webhooks.conftest import APP_SECRET, OPS_SECRET

PROCESSED_AT = datetime(2026, 9, 3, 6, 1, tzinfo=UTC)
OUTCOME = {"digest": "3f9c1d0a7e1b4242", "status": "processed", "rows": 3, "loaded": 2, "quarantined": 1}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def receivers_for(*subscriptions: tuple[str, str, str, list[str]]):
    """Receivers of a billing.yaml with these (name, url, secret variable, events) subscriptions."""
    entries = "".join(
        f"  {name}: {{url: '{url}', secret_env: {env}, events: [{', '.join(events)}]}}\n"
        for name, url, env, events in subscriptions
    )
    return receivers_from(parse_config(f'history_start: "2026-08-01"\nwebhooks:\n{entries}'))


def upload_event(event_type=UPLOAD_PROCESSED, digest="3f9c1d0a7e1b4242") -> WebhookEvent:
    return WebhookEvent(event_type, digest, PROCESSED_AT, {**OUTCOME, "digest": digest})


def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_try_with_the_same_id(app_receiver, secrets):
    [receiver] = receivers_for(("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]))
    app_receiver.fail_next(500, times=2)
    sleeps, log = Sleeps(), Captured()

    [report] = deliver([receiver], [upload_event()], replace(delivery_policy(), sleep=sleeps), Scrubber(()), log)

    assert report.delivered == 1 and report.failed == 0
    assert app_receiver.requests == 3 and sleeps == [1.0, 2.0]  # exponential backoff
    ids = {headers["webhook-id"] for headers in app_receiver.request_headers}
    assert ids == {upload_event().id} and upload_event().id.startswith("msg_")
    [payload] = app_receiver.payloads  # verified with the receiver's secret
    assert payload == {"type": UPLOAD_PROCESSED, "timestamp": PROCESSED_AT.isoformat(), "data": OUTCOME}
    assert [level for level, _ in log.lines] == ["warning", "warning", "info"]
    assert f"webhook upload.processed {upload_event().id} to billing_app: try 3 of {DELIVERY_ATTEMPTS}" in log.text
    assert "HTTP 500" in log.text and "delivered (HTTP 204)" in log.text


def test_a_refusal_is_not_retried_but_408_and_429_are(app_receiver, secrets):
    [receiver] = receivers_for(("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]))
    policy = replace(delivery_policy(), sleep=Sleeps())
    app_receiver.fail_next(410)

    [refused] = deliver([receiver], [upload_event()], policy, Scrubber(()), Captured())
    assert refused.failed == 1 and app_receiver.requests == 1

    app_receiver.reset()
    app_receiver.fail_next(408)
    app_receiver.fail_next(429, headers={"Retry-After": "3"})
    sleeps = Sleeps()
    [report] = deliver([receiver], [upload_event()], replace(policy, sleep=sleeps), Scrubber(()), Captured())
    assert report.delivered == 1 and app_receiver.requests == 3 and sleeps == [1.0, 3.0]  # Retry-After honoured


def test_unsubscribed_types_are_not_sent(app_receiver, ops_receiver, secrets):
    receivers = receivers_for(
        ("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]),
        ("ops", ops_receiver.url, "OPS_WEBHOOK_SECRET", [EVENTS_QUARANTINED]),
    )
    events = [upload_event(), upload_event(EVENTS_QUARANTINED)]

    deliver(receivers, events, delivery_policy(), Scrubber(()), Captured())

    assert [p["type"] for p in app_receiver.payloads] == [UPLOAD_PROCESSED]
    assert [p["type"] for p in ops_receiver.payloads] == [EVENTS_QUARANTINED]


def test_a_receiver_that_stays_down_is_logged_and_the_others_and_later_events_still_go_out(app_receiver, secrets):
    down = f"http://127.0.0.1:{free_port()}/hooks?token=query-string-secret"
    receivers = receivers_for(
        ("down", down, "OPS_WEBHOOK_SECRET", [UPLOAD_PROCESSED]),
        ("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]),
    )
    events = [upload_event(digest="aaaaaaaaaaaaaaaa"), upload_event(digest="bbbbbbbbbbbbbbbb")]
    sleeps, log = Sleeps(), Captured()

    reports = deliver(receivers, events, replace(delivery_policy(), sleep=sleeps), Scrubber(()), log)

    assert [(r.receiver, r.delivered, r.failed) for r in reports] == [("down", 0, 2), ("billing_app", 2, 0)]
    assert len(app_receiver.payloads) == 2
    assert sleeps == [1.0, 2.0, 4.0]  # the first event gets every try, the second one try
    down_lines = [text for _, text in log.lines if " to down:" in text]
    assert len(down_lines) == DELIVERY_ATTEMPTS + 1 and "try 1 of 1" in down_lines[-1]
    assert all("unreachable" in text for text in down_lines) and "NOT delivered" in down_lines[-1]
    assert "query-string-secret" not in log.text and "/hooks" not in log.text


def test_a_missing_or_malformed_secret_names_the_variable_only(app_receiver, monkeypatch):
    [receiver] = receivers_for(("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]))
    monkeypatch.delenv("APP_WEBHOOK_SECRET", raising=False)
    log = Captured()
    deliver([receiver], [upload_event()], delivery_policy(), Scrubber(()), log)
    assert "APP_WEBHOOK_SECRET" in log.text and "is not set" in log.text and app_receiver.requests == 0

    monkeypatch.setenv("APP_WEBHOOK_SECRET", "whsec_%%%%")
    log = Captured()
    deliver([receiver], [upload_event()], delivery_policy(), Scrubber(()), log)
    assert "APP_WEBHOOK_SECRET is not a whsec_" in log.text and "%%%%" not in log.text and app_receiver.requests == 0


def test_the_secrets_never_reach_a_log_line_or_a_body(app_receiver, secrets):
    [receiver] = receivers_for(("billing_app", app_receiver.url, "APP_WEBHOOK_SECRET", [UPLOAD_PROCESSED]))
    leaky = WebhookEvent(UPLOAD_PROCESSED, "cccccccccccccccc", PROCESSED_AT, {"error": f"bad key {OPS_SECRET}"})
    app_receiver.fail_next(503)
    log = Captured()

    deliver([receiver], [leaky], replace(delivery_policy(), sleep=Sleeps()), Scrubber((APP_SECRET, OPS_SECRET)), log)

    assert app_receiver.payloads[0]["data"] == {"error": "bad key [redacted]"}
    bodies = [body.decode() for _, body in app_receiver.deliveries]
    for text in [log.text, *bodies, *(str(h) for h in app_receiver.request_headers)]:
        assert APP_SECRET not in text and OPS_SECRET not in text
        assert APP_SECRET.removeprefix("whsec_") not in text
