"""One HTTP client for every API source (Stripe, HubSpot, Google Sheets).

A sync that meets a rate limit or a flaky gateway must slow down and carry on, not fail and not
hammer the API: every request is retried on 429, 5xx and dropped connections, honouring the
API's `Retry-After` and otherwise backing off exponentially with random jitter (so that parallel
workers do not retry in lockstep), built from dlt's retry conditions on tenacity, as dlt's own
requests client is. A request budget (`RequestBudget`) keeps the requests of an endpoint the
API limits tighter than the rest (HubSpot's search: 4 per second) within that limit.

When retries run out, or the API refuses a request for good (4xx), the error names the source,
the endpoint and the status with the start of the API's message, never the credentials; the
run fails there, before dlt commits anything of it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import requests
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_status,
    wait_exponential_retry_after,
)
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_any, retry_if_exception_type, stop_after_attempt, wait_random

from billing_pipelines.lib.redaction import redact, sent_credentials

ERROR_TEXT_CHARS = 300
"""How much of an API's error body an error message quotes."""


class SourceRequestError(RuntimeError):
    """A request to a source's API that failed for good: after its retries, or refused."""


class BearerTokenFromEnv(requests.auth.AuthBase):
    """`Authorization: Bearer <secret>` with the secret read from an environment variable when a
    request is sent, so definitions load without it and it is never kept in them."""

    def __init__(self, source: str, env_name: str, what: str):
        self.source, self.env_name, self.what = source, env_name, what

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        secret = os.environ.get(self.env_name)
        if not secret:
            raise SourceRequestError(
                f"{self.source}: environment variable {self.env_name} is not set: it must hold the {self.what}"
            )
        request.headers["Authorization"] = f"Bearer {secret}"
        return request


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a source retries: attempts per request, and the exponential backoff's base and
    ceiling in seconds (a `Retry-After` header is honoured up to the ceiling)."""

    attempts: int = 6
    backoff_seconds: float = 1.0
    max_delay_seconds: float = 60.0


class RequestBudget:
    """At most `per_second` requests in any window, as an API counting requests over a rolling
    second sees them: up to the limit go at once, the next waits until the oldest of the last
    `limit` is a window old. A request is timed when its answer arrives (the latest the API can
    have counted it), so however long requests travel, the API never counts one too many. A
    fractional rate keeps its average: 2.5/s is 2 requests per 0.8 s."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self.limit = max(1, math.floor(per_second))
        self.window = self.limit / per_second
        self._clock, self._sleep = clock, sleep
        self._recent: deque[list[float | None]] = deque(maxlen=self.limit)  # [answered at], None in flight
        self._lock = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until one more request fits the window, and hold its place while it is sent."""
        with self._lock:
            if len(self._recent) == self.limit:
                answered = self._recent[0][0]
                now = self._clock()
                ready = (now if answered is None else answered) + self.window
                if ready > now:
                    self._sleep(ready - now)
            place: list[float | None] = [None]
            self._recent.append(place)
        try:
            yield
        finally:
            place[0] = self._clock()


@dataclass
class ApiClient:
    """Requests to one source's API under `base_url`, with retries and request budgets.

    `budgets` maps a path prefix to the budget its requests share; `requests_made` counts every
    attempt (retries included), for the sync's metadata."""

    source: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth: requests.auth.AuthBase | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    budgets: Mapping[str, RequestBudget] = field(default_factory=dict)
    timeout_seconds: float = 60.0
    requests_made: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter())
        self._session.mount("https://", HTTPAdapter())
        self._session.headers.update(self.headers)
        self._session.auth = self.auth
        self._retrying = Retrying(
            retry=retry_any(retry_if_status(DEFAULT_RETRY_STATUS), retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS)),
            wait=wait_exponential_retry_after(multiplier=self.retry.backoff_seconds, max=self.retry.max_delay_seconds)
            + wait_random(0, self.retry.backoff_seconds),
            stop=stop_after_attempt(self.retry.attempts),
            reraise=True,
            retry_error_callback=lambda state: state.outcome.result(),
        )

    def get(self, path: str, params: Mapping | None = None) -> dict:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: object) -> dict:
        return self.request("POST", path, json=body)

    def request(self, method: str, path: str, **kwargs) -> dict:
        """The JSON answer to `method path`; SourceRequestError when it fails for good."""
        try:
            response = self._retrying(self._attempt, method, path, **kwargs)
        except DEFAULT_RETRY_EXCEPTIONS as error:
            raise SourceRequestError(
                f"{self.source}: {method} {path} failed after {self.retry.attempts} attempts: {type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            raise SourceRequestError(failure_message(self.source, method, path, response, self.retry.attempts))
        return response.json()

    def _attempt(self, method: str, path: str, **kwargs) -> requests.Response:
        with ExitStack() as turns:
            for prefix, budget in self.budgets.items():
                if path.startswith(prefix):
                    turns.enter_context(budget.turn())
            self.requests_made += 1
            return self._session.request(method, f"{self.base_url}{path}", timeout=self.timeout_seconds, **kwargs)

    def close(self) -> None:
        self._session.close()


def failure_message(source: str, method: str, path: str, response: requests.Response, attempts: int) -> str:
    """What a failed request tells the operator: source, endpoint, status, the API's words, with
    any credential the request carried blanked out first: an API that quotes back the key it was
    sent would otherwise put the billing system's key in the run's error, where the event log, the
    UI and the compute logs keep it for everyone who can read a run."""
    retried = response.status_code in DEFAULT_RETRY_STATUS
    after = f" after {attempts} attempts" if retried else ""
    sent = response.request.headers if response.request is not None else None
    text = " ".join(redact(response.text, sent_credentials(sent)).split())[:ERROR_TEXT_CHARS]
    return f"{source}: {method} {path} failed{after} with HTTP {response.status_code}: {text}"
