"""What a Stripe or HubSpot webhook proves and records: its signature checks, and the marker
per source that tells the `source_webhooks` sensor the source changed (see
`billing_pipelines/ingest_api/source_webhooks.py` for the routes).

Kept apart from the routes so the code location reads markers without loading the web stack.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from billing_pipelines.config import BillingConfig, HubSpotSourceConfig, StripeSourceConfig
from billing_pipelines.ingest_api.spool import fsync_directory

SOURCE_CHANGES = ".source_changes"
RECENT_EVENTS_KEPT = 20
STRIPE_TOLERANCE_SECONDS = 300
"""Stripe's default: a signed timestamp older than this is refused as a possible replay."""
HUBSPOT_MAX_AGE_SECONDS = 300
"""HubSpot: reject a request whose `X-HubSpot-Request-Timestamp` is older than five minutes."""
SECRET_SETTING = {"stripe": "webhook_secret_env", "hubspot": "client_secret_env"}
"""Per kind of source, the setting naming the variable that holds its webhook signing secret."""
HUBSPOT_DECODED_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
"""The percent-escapes HubSpot decodes in the URI before signing it (`:/?@!$'()*,;`)."""

WebhookSource = StripeSourceConfig | HubSpotSourceConfig


class SignatureRejected(ValueError):
    """A delivery that cannot be proven to come from the source; the message never holds a secret."""


class NoWebhookSource(LookupError):
    """The path names no source that receives webhooks; the message says how to enable one."""


# Verification --------------------------------------------------------------------------------


def stripe_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Stripe's `v1` signature: hex HMAC-SHA256 of `"<timestamp>.<raw body>"` keyed by the
    endpoint's whole signing secret (`whsec_…`)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def parse_stripe_header(header: str) -> tuple[str, list[str]]:
    """`t=<unix time>,v1=<hex>[,v1=<hex>…]` → the timestamp and every `v1` signature (Stripe
    sends several while a secret is rolled); other schemes (`v0`) are ignored."""
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value.strip() for key, value in pairs if key.strip() == "t"]
    signatures = [value.strip() for key, value in pairs if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise SignatureRejected("malformed Stripe-Signature header: expected t=<unix time>,v1=<hex signature>")
    return timestamps[0], signatures


def verify_stripe_signature(header: str | None, body: bytes, secret: str, now: float) -> None:
    """Accept a Stripe delivery only if one `v1` signature matches the raw body and its signed
    time is at most `STRIPE_TOLERANCE_SECONDS` old; raise `SignatureRejected` otherwise."""
    if not header:
        raise SignatureRejected("missing Stripe-Signature header")
    timestamp, signatures = parse_stripe_header(header)
    expected = stripe_signature(secret, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, signature.encode()) for signature in signatures):
        raise SignatureRejected("Stripe-Signature does not match the body (wrong signing secret, or altered body)")
    if now - int(timestamp) > STRIPE_TOLERANCE_SECONDS:
        raise SignatureRejected(f"Stripe-Signature timestamp is more than {STRIPE_TOLERANCE_SECONDS} s old")


def hubspot_signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the request URL with `%3A`, `%2F`, `%3F`, `%40`, `%21`,
    `%24`, `%27`, `%28`, `%29`, `%2A`, `%2C`, `%3B` decoded, every other escape kept."""
    return HUBSPOT_DECODED_ESCAPES.sub(lambda escape: chr(int(escape[1], 16)), uri)


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature: base64 HMAC-SHA256 of method + URI + raw body + timestamp (ms),
    keyed by the app's client secret."""
    message = method.encode() + hubspot_signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot_signature(
    signature: str | None, timestamp: str | None, method: str, uri: str, body: bytes, secret: str, now: float
) -> None:
    """Accept a HubSpot delivery only if `X-HubSpot-Signature-v3` matches the request and
    `X-HubSpot-Request-Timestamp` is at most `HUBSPOT_MAX_AGE_SECONDS` old; raise
    `SignatureRejected` otherwise."""
    if not signature or not timestamp:
        raise SignatureRejected("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    if not timestamp.isdigit():
        raise SignatureRejected("malformed X-HubSpot-Request-Timestamp: expected milliseconds since the epoch")
    expected = hubspot_signature(secret, method, uri, body, timestamp).encode()
    if not hmac.compare_digest(expected, signature.encode()):
        raise SignatureRejected("X-HubSpot-Signature-v3 does not match the request (wrong client secret, or altered)")
    if now * 1000 - int(timestamp) > HUBSPOT_MAX_AGE_SECONDS * 1000:
        raise SignatureRejected(f"X-HubSpot-Request-Timestamp is more than {HUBSPOT_MAX_AGE_SECONDS} s old")


# Which source a path means ---------------------------------------------------------------------


def webhook_secret_env(source: WebhookSource) -> str | None:
    """The variable holding the source's webhook signing secret; None when webhooks are off."""
    return getattr(source, SECRET_SETTING[source.kind])


def webhook_sources(config: BillingConfig) -> dict[str, WebhookSource]:
    """The enabled Stripe and HubSpot sources whose webhook secret is configured: the ones whose
    changes may start a sync."""
    return {
        name: source
        for kind in SECRET_SETTING
        for name, source in config.enabled_sources_of(kind).items()
        if webhook_secret_env(source) is not None
    }


def webhook_source(config: BillingConfig, kind: str, source_name: str | None) -> tuple[str, WebhookSource]:
    """The source a webhook path names: `source_name`, or the one source of `kind` receiving
    webhooks. Raises `NoWebhookSource` saying how to enable one."""
    if kind not in SECRET_SETTING:
        raise NoWebhookSource(f"no webhooks for {kind!r}: sources of kind {' or '.join(SECRET_SETTING)} receive them")
    setting = SECRET_SETTING[kind]
    enable = f"set `{setting}` of a `kind: {kind}` source in billing.yaml to the variable holding its secret"
    receiving = {name: s for name, s in webhook_sources(config).items() if s.kind == kind}
    if source_name is not None:
        if source_name not in receiving:
            raise NoWebhookSource(
                f"source {source_name!r} does not receive {kind} webhooks: it must be an enabled `kind: {kind}` "
                f"source with `{setting}` set in billing.yaml"
            )
        return source_name, receiving[source_name]
    if not receiving:
        raise NoWebhookSource(f"no {kind} source receives webhooks: {enable}")
    if len(receiving) > 1:
        raise NoWebhookSource(
            f"several {kind} sources receive webhooks ({', '.join(sorted(receiving))}): "
            f"post to /v1/webhooks/{kind}/<source>"
        )
    return next(iter(receiving.items()))


# What a delivery says ------------------------------------------------------------------------------


def delivered_events(kind: str, body: bytes) -> list[dict[str, str]]:
    """The id and type of each event in a verified delivery: Stripe sends one event object,
    HubSpot an array of events. Raises ValueError for a body of another shape."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if kind == "stripe" and isinstance(payload, dict):
        return [{"id": str(payload.get("id", "")), "type": str(payload.get("type", ""))}]
    if kind == "hubspot" and isinstance(payload, list) and all(isinstance(event, dict) for event in payload):
        return [{"id": str(e.get("eventId", "")), "type": str(e.get("subscriptionType", ""))} for e in payload]
    raise ValueError("expected a Stripe event object" if kind == "stripe" else "expected a HubSpot array of events")


# The change marker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeMarker:
    """That a source changed, as its webhooks reported: how many verified deliveries so far,
    when the latest arrived, and the last events seen."""

    source: str
    kind: str
    changes: int
    last_change_at: datetime
    recent_events: tuple[dict, ...]


def change_marker_path(landing_path: Path, source: str) -> Path:
    return landing_path / SOURCE_CHANGES / f"{source}.json"


def next_marker(
    previous: ChangeMarker | None, source: str, kind: str, events: list[dict], now: datetime
) -> ChangeMarker:
    """The marker after one more verified delivery."""
    received = tuple({**event, "received_at": now.isoformat()} for event in events)
    before = previous.recent_events if previous else ()
    return ChangeMarker(
        source=source,
        kind=kind,
        changes=(previous.changes if previous else 0) + 1,
        last_change_at=now,
        recent_events=(before + received)[-RECENT_EVENTS_KEPT:],
    )


def read_change_marker(path: Path) -> ChangeMarker | None:
    """The marker at `path`; None when the source never reported a change."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return ChangeMarker(
        source=data["source"],
        kind=data["kind"],
        changes=data["changes"],
        last_change_at=datetime.fromisoformat(data["last_change_at"]),
        recent_events=tuple(data["recent_events"]),
    )


def write_change_marker(path: Path, marker: ChangeMarker) -> None:
    """Replace the marker durably: temporary file, fsync, rename, fsync of the folder."""
    data = {
        "source": marker.source,
        "kind": marker.kind,
        "changes": marker.changes,
        "last_change_at": marker.last_change_at.isoformat(),
        "recent_events": list(marker.recent_events),
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    fsync_directory(path.parent)


def record_change(landing_path: Path, source: str, kind: str, events: list[dict], now: datetime) -> ChangeMarker:
    """Count one verified delivery in the source's marker, under an exclusive lock shared by
    every API process writing to this landing zone."""
    path = change_marker_path(landing_path, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = next_marker(read_change_marker(path), source, kind, events, now)
        write_change_marker(path, marker)
    return marker
