"""Inbound webhooks of the SaaS sources: a change in Stripe or HubSpot starts that source's sync
within minutes instead of at the next schedule tick.

`POST /v1/webhooks/stripe` verifies `Stripe-Signature`, `POST /v1/webhooks/hubspot` verifies
`X-HubSpot-Signature-v3`, each as the provider documents it, over the raw body. With several
sources of one kind, `/v1/webhooks/<kind>/<source>` names the source. A webhook is a hint, never
data: the request only records *that* the source changed, in a small marker file per source
(`<landing>/.source_changes/<source>.json`), and answers 200 at once (Stripe and HubSpot retry a
slow or failed delivery). The `source_webhooks` sensor then launches the source's incremental
sync, which reads the changes from the source's API like any other sync: a lost, duplicated or
out-of-order webhook costs a sync at most, never a record.

The marker (JSON) holds `source`, `kind`, `changes` (how many verified deliveries so far),
`last_change_at` (UTC, ISO-8601) and `recent_events`, the ids and types of the last
`RECENT_EVENTS_KEPT` events delivered, for the sensor's log. It is rewritten under an exclusive
lock (several API processes may share the landing zone) to a temporary file that is fsync'd and
renamed over the old one, so a reader sees the old marker or the new one, never half of one.

HubSpot signs the URL it called: behind a proxy that terminates TLS, run uvicorn with
`--proxy-headers` (and `--forwarded-allow-ips` of the proxy) so the request URL reads `https://`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import fastapi
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from billing_pipelines.config import BillingConfig
from billing_pipelines.ingest_api.errors import ApiError, error_responses
from billing_pipelines.ingest_api.requests import json_response, read_body
from billing_pipelines.lib.source_changes import (
    NoWebhookSource,
    SignatureRejected,
    delivered_events,
    record_change,
    verify_hubspot_signature,
    verify_stripe_signature,
    webhook_secret_env,
    webhook_source,
)

router = fastapi.APIRouter(tags=["source webhooks"])


# The route ------------------------------------------------------------------------------------


def _verify(kind: str, request: fastapi.Request, body: bytes, secret: str) -> None:
    if kind == "stripe":
        verify_stripe_signature(request.headers.get("stripe-signature"), body, secret, time.time())
    else:
        verify_hubspot_signature(
            request.headers.get("x-hubspot-signature-v3"),
            request.headers.get("x-hubspot-request-timestamp"),
            request.method,
            str(request.url),
            body,
            secret,
            time.time(),
        )


@router.post(
    "/v1/webhooks/{kind}",
    summary="A Stripe or HubSpot change: sync that source soon",
    responses=error_responses(400, 401, 404, 413, 503),
)
@router.post(
    "/v1/webhooks/{kind}/{source_name}",
    summary="A change of the named Stripe or HubSpot source",
    responses=error_responses(400, 401, 404, 413, 503),
)
async def receive_source_webhook(kind: str, request: fastapi.Request, source_name: str | None = None) -> Response:
    """Verify the delivery's signature, record that the source changed, answer 200. 404: no
    source here receives webhooks; 401: the signature is missing, wrong or too old; 400: a
    verified body that is not the provider's JSON; 503: the secret's variable is not set in the
    API's environment (the provider retries, so nothing is lost once it is set)."""
    config: BillingConfig = request.app.state.services.config
    try:
        name, source = webhook_source(config, kind, source_name)
    except NoWebhookSource as error:
        raise ApiError(404, "not_found", str(error)) from None
    secret = os.environ.get(webhook_secret_env(source) or "")
    if not secret:
        raise ApiError(503, "not_configured", f"{name}: environment variable {webhook_secret_env(source)} is not set")
    body = await read_body(request, config.ingest_api.max_body_bytes)
    try:
        _verify(kind, request, body, secret)
        events = delivered_events(kind, body)
    except SignatureRejected as error:
        raise ApiError(401, "invalid_signature", f"{name}: {error}") from None
    except ValueError as error:
        raise ApiError(400, "invalid_body", f"{name}: {error}") from None
    marker = await run_in_threadpool(record_change, config.landing_path, name, kind, events, datetime.now(UTC))
    return json_response({"source": name, "received": len(events), "changes": marker.changes}, 200)
