"""Delivering a message over HTTP the Standard Webhooks way, with retries: what the alert webhook
(defs/alerts) and the outbound ingestion webhooks (defs/webhooks) share.

A delivery is a JSON body POSTed with `webhook-id` (the same on every try, so a receiver drops a
second copy), `webhook-timestamp` and `webhook-signature` (HMAC-SHA256 over id.timestamp.body
with the receiver's `whsec_…` secret, via the `standardwebhooks` package), signed afresh on each
try. A receiver that is unreachable, overloaded (5xx), timing out (408) or rate-limiting (429,
honouring Retry-After) is tried again after an exponential backoff; any other answer is final.

Secrets are read from the environment when a message is sent and never appear in an error: an
error names the environment variable, the host and the status, never the secret, the URL's
path or query string, or the receiver's answer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from billing_pipelines.config import AlertsConfig

T = TypeVar("T")
R = TypeVar("R")

REQUEST_TIMEOUT_SECONDS = 10
MAX_WAIT_SECONDS = 30.0
"""The longest pause between two tries (a larger Retry-After is cut to it): a sensor
evaluation has about a minute."""


class DeliveryError(Exception):
    """A try failed. `reason` is safe to log (no secret, no body); `retryable` says whether
    trying again may help; `retry_after` is the destination's own wait, in seconds."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


def secret_from_env(env_name: str, what: str) -> str:
    """The value of `env_name`, or a final DeliveryError naming the variable (never a value)."""
    value = os.environ.get(env_name)
    if not value:
        raise DeliveryError(f"the environment variable {env_name} ({what}) is not set", retryable=False)
    return value


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The destination's `Retry-After` in seconds, when it sent one as a number."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except ValueError:
                return None
    return None


def retryable_status(status: int) -> bool:
    """An answer that may change on a later try: a timeout (408), a rate limit (429), a server
    error (5xx). Any other 4xx is the receiver refusing the message: final."""
    return status in (408, 429) or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries per delivery; waits `backoff_seconds`, then twice that, and so on (or
    the destination's Retry-After), never more than MAX_WAIT_SECONDS."""

    attempts: int
    backoff_seconds: float
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, alerts: AlertsConfig) -> RetryPolicy:
        return cls(attempts=alerts.max_attempts, backoff_seconds=alerts.backoff_seconds)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff_seconds * 2 ** (attempt - 1)
        return min(wanted, MAX_WAIT_SECONDS)


@dataclass(frozen=True)
class Attempt:
    """How one try went: `answer` (what `send` returned) when it succeeded, else `error`;
    `next_wait` is the pause before the next try, None when there is none."""

    number: int
    answer: object = None
    error: DeliveryError | None = None
    next_wait: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def attempts(send: Callable[[], object], policy: RetryPolicy) -> Iterator[Attempt]:
    """Call `send` until it succeeds, fails for good or the tries run out, sleeping between
    tries; yields each try as it ends, so the caller logs every one. Never raises: an unexpected
    exception from `send` (a bug) is a final failure."""
    for number in range(1, policy.attempts + 1):
        try:
            answer = send()
        except DeliveryError as failure:
            error = failure
        except Exception as failure:  # a sender bug must not stop a sensor or the other deliveries
            error = DeliveryError(f"{type(failure).__name__}: {failure}", retryable=False)
        else:
            yield Attempt(number, answer=answer)
            return
        if not error.retryable or number == policy.attempts:
            yield Attempt(number, error=error)
            return
        wait = policy.wait(number, error.retry_after)
        yield Attempt(number, error=error, next_wait=wait)
        policy.sleep(wait)


def signer(secret_env: str) -> Webhook:
    """The Standard Webhooks signer for the `whsec_…` secret held in `secret_env`."""
    secret = secret_from_env(secret_env, "webhook signing secret")
    try:
        return Webhook(secret)
    except (ValueError, TypeError, EmptyWebhookSecretError):
        raise DeliveryError(f"{secret_env} is not a whsec_… base64 secret", retryable=False) from None


def signed_headers(webhook: Webhook, message_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one try (the signature covers id, time and body)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": webhook.sign(message_id, sent_at, body),
    }


def host_of(url: str) -> str:
    """`host[:port]` of a URL: what an error or log line may say about where a message went
    (never the user, password, path or query string)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def post_signed(url: str, secret_env: str, message_id: str, body: str) -> int:
    """POST `body` to `url` signed with the secret in `secret_env`; returns the 2xx status, or
    raises DeliveryError naming only the host and the status (redirects are not followed)."""
    headers = signed_headers(signer(secret_env), message_id, datetime.now(UTC), body)
    host = host_of(url)
    try:
        response = requests.post(
            url, data=body.encode(), headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as error:
        raise DeliveryError(f"webhook {host} unreachable: {type(error).__name__}", retryable=True) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(
            f"webhook {host} answered HTTP {response.status_code}",
            retryable=retryable_status(response.status_code),
            retry_after=retry_after(response.headers),
        )
    return response.status_code


def send_to_each(targets: Sequence[T], send: Callable[[T], R], log) -> list[R]:
    """`send(target)` for every target at once (one slow destination does not delay the
    others), then each report's `(level, text)` log lines to `log` (a Dagster or standard
    logger), in the order of `targets`."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        reports = list(pool.map(send, targets))
    for report in reports:
        for level, text in report.log:
            getattr(log, level)(text)
    return reports
