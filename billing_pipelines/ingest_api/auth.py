"""Who is pushing, whether they may, and how fast: bearer keys, scopes and a rate per key.

401 when the key is missing or unknown (or revoked), 403 when it lacks the endpoint's scope,
429 with `Retry-After` when it sends faster than `requests_per_second` after using up `burst`.
A key is never logged: errors and logs name the key id at most.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from billing_pipelines.ingest_api.errors import ApiError
from billing_pipelines.ingest_api.keys import ApiKey


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float


class RateLimiter:
    """A token bucket per key: `burst` requests at once, then `per_second` sustained."""

    def __init__(self, per_second: float, burst: int, clock=time.monotonic):
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def wait_seconds(self, key_id: str) -> float:
        """0 when the request may go ahead (and counts it), else how long to wait."""
        now = self.clock()
        bucket = self._buckets.setdefault(key_id, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.refilled_at) * self.per_second)
        bucket.refilled_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second


def authorize(request: Request, scope: str, presented: str) -> ApiKey:
    """The calling key, checked for `scope` and its rate; raises the 401/403/429 answer."""
    services = request.app.state.services
    if not presented:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    key = services.keys.authenticate(presented)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    if scope not in key.scopes:
        raise ApiError(403, "forbidden", f"this API key lacks the scope {scope!r}")
    wait = services.rate_limiter.wait_seconds(key.key_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"more than {services.rate_limiter.per_second:g} requests per second for this key; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


BEARER = HTTPBearer(auto_error=False, description="an API key made with `billing-api keys create`")


def require(scope: str):
    """A FastAPI dependency: the calling key, which must hold `scope`."""

    async def dependency(  # async: a sync dependency would cost every request a thread hop
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> ApiKey:
        return authorize(request, scope, credentials.credentials if credentials else "")

    return dependency


def key_for(request: Request, scope: str) -> ApiKey:
    """What `require(scope)` gives, without FastAPI's dependency machinery: for the usage push,
    the hot path, where that machinery costs about a tenth of a request's time. The route
    declares `BEARER_SECURITY` so the OpenAPI still shows how it authenticates."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return authorize(request, scope, token.strip() if scheme.lower() == "bearer" else "")


BEARER_SECURITY = {"security": [{BEARER.scheme_name: []}]}

CustomersWriter = Annotated[ApiKey, Depends(require("customers:write"))]
ContractsWriter = Annotated[ApiKey, Depends(require("contracts:write"))]
UploadsWriter = Annotated[ApiKey, Depends(require("uploads:write"))]
