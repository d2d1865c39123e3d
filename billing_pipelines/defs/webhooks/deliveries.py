"""Sending ingestion events to the receivers subscribed in `webhooks:` of billing.yaml.

Each event is POSTed as `{"type", "timestamp", "data"}` JSON, signed the Standard Webhooks way
with the receiver's secret (lib/signed_webhooks.py). Its `webhook-id` is derived from what it is
about (the file's digest, the failed run's id), so every retry, and any later resend, carries
the same id and a receiver can drop a copy it already has. Retryable failures (unreachable,
408, 429, 5xx) are tried DELIVERY_ATTEMPTS times with a backoff from FIRST_BACKOFF_SECONDS,
doubling; every try is logged with the receiver, the event type, the webhook-id, the answer and
the try number, never with the secret or the URL (only its host).

A receiver that stays down must not stop the sensor nor delay the others: receivers are served
at once, each in its own thread, and once one of a receiver's events has failed all its tries,
its later events of the same evaluation are still sent but tried once each, so the evaluation
stays within its time (the next one starts again with full retries). An event that is not
delivered is logged as such and not sent again: the outcome files are the durable record, a
webhook is a notification of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from billing_pipelines.config import BillingConfig, WebhookEventType, WebhookSubscriptionConfig
from billing_pipelines.defs.alerts.messages import Scrubber
from billing_pipelines.lib.signed_webhooks import Attempt, RetryPolicy, attempts, post_signed, send_to_each

DELIVERY_ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 1.0
"""Waits of 1, 2 and 4 s between the four tries: about 7 s for an event to a receiver that is down."""
UPLOAD_PROCESSED: WebhookEventType = "upload.processed"
EVENTS_QUARANTINED: WebhookEventType = "events.quarantined"
SYNC_FAILED: WebhookEventType = "sync.failed"


def delivery_policy() -> RetryPolicy:
    return RetryPolicy(attempts=DELIVERY_ATTEMPTS, backoff_seconds=FIRST_BACKOFF_SECONDS)


@dataclass(frozen=True)
class WebhookEvent:
    """Something a subscriber hears about: its `type`, what it is about (`subject`: a file's
    digest, a run's id), when it happened and its data."""

    type: WebhookEventType
    subject: str
    occurred_at: datetime
    data: Mapping[str, object]

    @property
    def id(self) -> str:
        """The webhook-id: the same for every delivery of this event."""
        return "msg_" + hashlib.sha256(f"{self.type}|{self.subject}".encode()).hexdigest()[:32]

    def body(self, scrub: Scrubber) -> str:
        envelope = {"type": self.type, "timestamp": self.occurred_at.isoformat(), "data": scrub.data(self.data)}
        return json.dumps(envelope, sort_keys=True)


@dataclass(frozen=True)
class Receiver:
    """One subscription of `webhooks:`: where its events go and which ones it wants."""

    name: str
    config: WebhookSubscriptionConfig

    def wants(self, event: WebhookEvent) -> bool:
        return event.type in self.config.events


def receivers_from(config: BillingConfig) -> list[Receiver]:
    """The enabled subscriptions, in the file's order."""
    return [Receiver(name, subscription) for name, subscription in config.webhooks.items() if subscription.enabled]


def subscribed(receivers: Sequence[Receiver], event_type: WebhookEventType) -> bool:
    return any(event_type in receiver.config.events for receiver in receivers)


@dataclass
class ReceiverReport:
    """How a receiver's events went: how many were delivered, and the log lines (level, text)."""

    receiver: str
    delivered: int = 0
    failed: int = 0
    log: list[tuple[str, str]] = field(default_factory=list)


def send_event(
    receiver: Receiver, event: WebhookEvent, policy: RetryPolicy, scrub: Scrubber
) -> tuple[Attempt, list[tuple[str, str]]]:
    """Deliver one event to one receiver with retries: its last try, and a log line per try."""
    send = partial(post_signed, receiver.config.url, receiver.config.secret_env, event.id, event.body(scrub))
    label = f"webhook {event.type} {event.id} to {receiver.name}"
    lines = []
    for attempt in attempts(send, policy):
        tried = f"{label}: try {attempt.number} of {policy.attempts}"
        if attempt.succeeded:
            lines.append(("info", f"{tried}: delivered (HTTP {attempt.answer})"))
        elif attempt.next_wait is not None:
            lines.append(("warning", f"{tried}: {attempt.error}; next in {attempt.next_wait:g} s"))
        else:
            lines.append(("error", f"{tried}: {attempt.error}; NOT delivered"))
    return attempt, [(level, scrub(text)) for level, text in lines]


def serve(receiver: Receiver, events: Sequence[WebhookEvent], policy: RetryPolicy, scrub: Scrubber) -> ReceiverReport:
    """Deliver a receiver's events in order, each with retries; never raises. Once an event has
    failed every try for a reason retrying might cure (the receiver is down), the later ones are
    still sent, but tried once each: a receiver that stays down costs one try per event."""
    report = ReceiverReport(receiver.name)
    for event in (event for event in events if receiver.wants(event)):
        last, lines = send_event(receiver, event, policy, scrub)
        report.log.extend(lines)
        if last.succeeded:
            report.delivered += 1
        else:
            report.failed += 1
            if last.error.retryable:
                policy = replace(policy, attempts=1)
    return report


def deliver(receivers: Sequence[Receiver], events: Sequence[WebhookEvent], policy: RetryPolicy, scrub: Scrubber, log):
    """Send the events to every receiver that wants them, receivers in parallel, then write
    each delivery's log lines to `log` (a Dagster or standard logger). Returns the reports."""
    busy = [receiver for receiver in receivers if any(receiver.wants(event) for event in events)]
    return send_to_each(busy, lambda receiver: serve(receiver, events, policy, scrub), log)
