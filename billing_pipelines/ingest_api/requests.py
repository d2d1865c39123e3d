"""Reading a request body safely, and answering it once even when the client asks twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from billing_pipelines.ingest_api.errors import ApiError
from billing_pipelines.ingest_api.keys import ApiKey
from billing_pipelines.ingest_api.models import MAX_RECORDS_PER_REQUEST
from billing_pipelines.ingest_api.replay import IdempotencyConflict, fingerprint

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY_CHARS = 255


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (before reading it when the client says
    its length, while reading it otherwise)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the body is {declared} bytes; at most {limit} are accepted")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # the client went away mid-body: nothing was taken, nobody to answer
        raise ApiError(400, "client_disconnected", "the connection closed before the body was complete") from None
    return b"".join(chunks)


def json_array(body: bytes) -> list[Any]:
    """A JSON array of 1 to 1,000 records, or the 400/422 answer saying what is wrong."""
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(items, list):
        raise ApiError(422, "invalid_request", "the body must be a JSON array of records")
    if not 1 <= len(items) <= MAX_RECORDS_PER_REQUEST:
        raise ApiError(
            422, "invalid_request", f"send 1 to {MAX_RECORDS_PER_REQUEST} records per request, not {len(items)}"
        )
    return items


def json_response(payload: Any, status_code: int = 202) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


async def answer_once(
    request: Request, key: ApiKey, body: bytes, handle: Callable[[bytes], Awaitable[Response]]
) -> Response:
    """`handle(body)`, or with an `Idempotency-Key` the first answer to this key and body
    (replayed with `Idempotent-Replayed: true`); the key reused for another body → 409."""
    idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
    if idempotency_key is None:
        return await handle(body)
    if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise ApiError(422, "invalid_request", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    store = request.app.state.services.idempotency
    request_fingerprint = fingerprint(request.method, request.scope["path"], body)
    try:
        stored = store.begin(key.key_id, idempotency_key, request_fingerprint)
    except IdempotencyConflict as conflict:
        raise ApiError(409, "idempotency_conflict", str(conflict)) from None
    if stored is not None:
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = await handle(body)
    except BaseException:  # a refusal is not stored: the same request is refused again
        store.abandon(key.key_id, idempotency_key)
        raise
    store.finish(key.key_id, idempotency_key, response.status_code, bytes(response.body))
    return response
