"""Retries at the right level: a source that hiccups is retried where it happens, then by the step;
a mistake fails the step at once, saying what to fix.

1. **Where it happens**: every API request is retried on 429, 5xx and dropped connections with
   backoff (`lib/http_client.py`).
2. **The step**: a raw load whose failure is transient (a connection reset or refused, a timeout,
   an API still failing after its request retries, a warehouse lock held by another process) is
   run again by Dagster (`RAW_LOAD_RETRY`: exponential backoff with jitter). A retried load is
   safe: dlt commits a load only whole, and the merge on the primary key replaces what an earlier
   attempt may have written.
3. **The run** (`run_retries` in dagster.yaml) is the last resort, for a run whose process died.

Everything not known to be transient is permanent and fails the step once, with no retry: a
missing environment variable, a refused request (4xx), an error in a configured query, a missing
table or column. Retrying those only delays the alert; the operator has to fix something first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import requests

RAW_LOAD_RETRY = dg.RetryPolicy(max_retries=3, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
"""A raw load's step retries on a transient failure: about 20 s, 40 s, then 80 s later."""

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_TYPES = (
    ConnectionError,  # the builtin one: reset, refused, aborted, broken pipe
    TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
TRANSIENT_TEXT = re.compile(
    r"failed after \d+ attempts"  # lib/http_client.py: the request retries ran out on 429/5xx/resets
    r"|connection (?:reset|refused|aborted|timed out)|broken pipe|timed out|timeout expired"
    r"|server closed the connection|lost connection|could not connect|connection to server .* failed"
    r"|too many connections|temporarily unavailable|service unavailable|deadlock"
    r"|could not set lock on file|conflicting lock",  # DuckDB: another process holds the warehouse
    re.IGNORECASE,
)
"""What drivers say when the network or the server, not the request, failed. Our own errors
(`SourceReadError`, `SourceRequestError`) re-raise a driver's failure as text, without its type."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and every exception behind it: causes, contexts, dlt's wrapped step exception and
    SQLAlchemy's original driver error."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for behind in ("__cause__", "__context__", "exception", "orig"):
            inner = getattr(current, behind, None)
            if isinstance(inner, BaseException):
                pending.append(inner)


def _status(error: BaseException) -> int | None:
    """An HTTP status an error carries (requests, google-api-core), if any."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    if status is None:
        status = getattr(error, "code", None)
    return status if isinstance(status, int) else None


def is_transient(error: BaseException) -> bool:
    """Whether trying the same load again later may succeed: the network, the server or a lock
    failed, not the request."""
    for link in _chain(error):
        if isinstance(link, TRANSIENT_TYPES) or _status(link) in TRANSIENT_STATUS:
            return True
        if getattr(link, "connection_invalidated", False):  # SQLAlchemy: the connection dropped
            return True
        if TRANSIENT_TEXT.search(str(link)):
            return True
    return False


def root_message(error: BaseException) -> str:
    """The innermost error's message: dlt wraps a source's error in "Pipeline execution failed
    at stage extract …" (and that in a resource error); the operator needs the source's words."""
    current = error
    while isinstance(inner := getattr(current, "exception", None) or current.__cause__, BaseException):
        current = inner
    return f"{type(current).__name__}: {current}"


@contextmanager
def permanent_failures_fail_fast(step: str) -> Iterator[None]:
    """Let a transient failure through (the step's retry policy retries it); turn any other into
    a `dg.Failure` that is not retried, describing what failed in the source's own words."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as error:
        if is_transient(error):
            raise
        raise dg.Failure(
            description=f"{step} failed and will not be retried (not a transient error): {root_message(error)}",
            allow_retries=False,
        ) from error
