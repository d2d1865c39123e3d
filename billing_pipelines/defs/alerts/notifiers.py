"""Sending an alert: Slack, a signed webhook, e-mail; each retried, none ever raising.

A billing operator must hear about a failed sync, but a notifier that is down must not break
the sensor that noticed it (nor the other notifiers): each delivery is retried with backoff when
the destination is unreachable, overloaded (5xx) or rate-limiting (429, honouring Retry-After),
then logged as lost. A refusal (bad token, unknown channel, 4xx) is not retried. The retry loop
and the Standard Webhooks signing are shared with the ingestion webhooks (lib/signed_webhooks.py).

Secrets (the Slack token, the webhook secret, the SMTP password) are read from the environment
when an alert is sent, never kept in a message, and every alert and log line is scrubbed of every
secret the project knows (`scrubber_for`).
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol
from urllib.error import URLError
from urllib.parse import unquote, urlsplit

from dagster_slack import SlackResource
from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from billing_pipelines.config import (
    AlertsConfig,
    BillingConfig,
    EmailNotifierConfig,
    SlackNotifierConfig,
    WebhookNotifierConfig,
)
from billing_pipelines.defs.alerts.messages import Alert, Scrubber
from billing_pipelines.lib.signed_webhooks import (
    REQUEST_TIMEOUT_SECONDS,
    DeliveryError,
    RetryPolicy,
    attempts,
    post_signed,
    retry_after,
    secret_from_env,
    send_to_each,
)

MIN_SECRET_CHARS = 4
"""Shorter environment values are not scrubbed: they would blank ordinary words."""
DBT_SECRET_PREFIX = "DBT_ENV_SECRET_"


class Notifier(Protocol):
    name: str
    kind: str

    def send(self, alert: Alert) -> None:
        """Deliver once, or raise DeliveryError."""


def _unreachable(what: str, error: BaseException) -> DeliveryError:
    reason = getattr(error, "reason", None) or error
    return DeliveryError(f"{what} unreachable: {type(reason).__name__}: {reason}", retryable=True)


class BillingSlackResource(SlackResource):
    """dagster-slack's resource with the Web API root configurable (a stand-in in tests) and
    slack_sdk's own retries off: the notifier retries every destination the same way."""

    base_url: str = WebClient.BASE_URL

    def get_client(self) -> WebClient:
        return WebClient(self.token, base_url=self.base_url, timeout=REQUEST_TIMEOUT_SECONDS, retry_handlers=[])


def slack_text(alert: Alert) -> str:
    """The alert in Slack's mrkdwn: bold title, the facts, a link (`&`, `<`, `>` escaped)."""

    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = "\n".join(escape(line) for line in alert.lines)
    return f"*{escape(alert.title)}*\n{body}\n<{alert.link}|Open in Dagster>"


@dataclass
class SlackNotifier:
    """Posts to a channel with `chat.postMessage`."""

    name: str
    config: SlackNotifierConfig
    kind: str = "slack"

    def send(self, alert: Alert) -> None:
        token = secret_from_env(self.config.token_env, "Slack bot token")
        client = BillingSlackResource(token=token, base_url=self.config.base_url).get_client()
        try:
            client.chat_postMessage(
                channel=self.config.channel, text=slack_text(alert), mrkdwn=True, unfurl_links=False
            )
        except SlackApiError as error:
            status = error.response.status_code
            answer = error.response.data.get("error") if isinstance(error.response.data, dict) else None
            raise DeliveryError(
                f"Slack answered HTTP {status}: {str(answer or 'no error code')[:200]}",
                retryable=status == 429 or status >= 500,
                retry_after=retry_after(error.response.headers),
            ) from None
        except (URLError, OSError) as error:
            raise _unreachable("Slack", error) from None


def webhook_payload(alert: Alert, sent_at: datetime) -> dict:
    """The JSON body: Standard Webhooks' recommended `type`/`timestamp`/`data` envelope."""
    return {
        "type": f"billing.{alert.event}",
        "timestamp": sent_at.isoformat(),
        "data": {"title": alert.title, "text": alert.text, "link": alert.link, **alert.facts},
    }


def message_id(alert: Alert) -> str:
    """The same alert keeps its id across retries, so a receiver can drop a second delivery."""
    digest = hashlib.sha256(json.dumps([alert.event, alert.title, alert.link, alert.lines]).encode()).hexdigest()
    return f"msg_{digest[:32]}"


@dataclass
class WebhookNotifier:
    """POSTs JSON signed with the Standard Webhooks scheme (HMAC-SHA256 over id.timestamp.body)."""

    name: str
    config: WebhookNotifierConfig
    kind: str = "webhook"

    def send(self, alert: Alert) -> None:
        body = json.dumps(webhook_payload(alert, datetime.now(UTC)), sort_keys=True)
        post_signed(self.config.url, self.config.secret_env, message_id(alert), body)


def email_message(alert: Alert, sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Billing-Alert"] = alert.event
    message.set_content(alert.text + "\n")
    return message


@dataclass
class EmailNotifier:
    """Sends over SMTP (STARTTLS and a login when configured)."""

    name: str
    config: EmailNotifierConfig
    kind: str = "email"

    def send(self, alert: Alert) -> None:
        config = self.config
        password = secret_from_env(config.password_env, "SMTP password") if config.password_env else None
        where = f"SMTP {config.host}:{config.port}"
        try:
            with smtplib.SMTP(config.host, config.port, timeout=REQUEST_TIMEOUT_SECONDS) as smtp:
                if config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username and password:
                    smtp.login(config.username, password)
                smtp.send_message(email_message(alert, config.from_, config.to))
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({code for code, _ in error.recipients.values()})
            raise DeliveryError(f"{where} refused the recipients ({codes})", retryable=False) from None
        except smtplib.SMTPResponseException as error:
            first = error.smtp_error.decode(errors="replace").splitlines()[0] if error.smtp_error else ""
            raise DeliveryError(
                f"{where} answered {error.smtp_code} {first}".rstrip(), retryable=400 <= error.smtp_code < 500
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"{where} does not offer STARTTLS", retryable=False) from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise _unreachable(where, error) from None


Notifiers = list[SlackNotifier | WebhookNotifier | EmailNotifier]
_BY_KIND = {"slack": SlackNotifier, "webhook": WebhookNotifier, "email": EmailNotifier}


def notifiers_from(alerts: AlertsConfig) -> Notifiers:
    """The enabled notifiers of `alerts:`, in the file's order."""
    return [_BY_KIND[config.kind](name, config) for name, config in alerts.enabled_notifiers.items()]


def secret_env_names(model: object) -> set[str]:
    """Every environment variable the configuration names as holding a secret: each `*_env`
    setting, at any depth (sources, warehouse, notifiers)."""
    names: set[str] = set()
    if isinstance(model, BaseModel):
        for field_name in type(model).model_fields:
            value = getattr(model, field_name)
            if field_name.endswith("_env") and isinstance(value, str):
                names.add(value)
            else:
                names |= secret_env_names(value)
    elif isinstance(model, Mapping):
        for value in model.values():
            names |= secret_env_names(value)
    elif isinstance(model, list | tuple):
        for value in model:
            names |= secret_env_names(value)
    return names


def secret_values(env_names: Iterable[str], environ: Mapping[str, str]) -> set[str]:
    """The values to scrub: each named variable's value, the password inside a URL value (as
    written and decoded), and dbt's `DBT_ENV_SECRET_*` copies."""
    names = set(env_names) | {name for name in environ if name.startswith(DBT_SECRET_PREFIX)}
    values: set[str] = set()
    for name in names:
        value = environ.get(name)
        if not value:
            continue
        values.add(value)
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password:
            values |= {password, unquote(password)}
    return {value for value in values if len(value) >= MIN_SECRET_CHARS}


def scrubber_for(config: BillingConfig, environ: Mapping[str, str] | None = None) -> Scrubber:
    """A scrubber of the secrets the environment holds now for `config`."""
    return Scrubber(secret_values(secret_env_names(config), os.environ if environ is None else environ))


@dataclass
class DeliveryReport:
    """How one alert went to one notifier: delivered or not, after how many tries, and the log
    lines (level, text) to write."""

    notifier: str
    delivered: bool = False
    attempts: int = 0
    log: list[tuple[str, str]] = field(default_factory=list)


def tries(count: int) -> str:
    return f"{count} try" if count == 1 else f"{count} tries"


def deliver(notifier: Notifier, alert: Alert, policy: RetryPolicy, scrub: Scrubber) -> DeliveryReport:
    """Send with retries; never raises. Every log line is scrubbed."""
    report = DeliveryReport(notifier.name)
    label = f"{notifier.name} ({notifier.kind})"
    for attempt in attempts(lambda: notifier.send(alert), policy):
        report.attempts = attempt.number
        if attempt.succeeded:
            report.delivered = True
            level, text = "info", f"alert '{alert.title}' sent to {label}"
        elif attempt.next_wait is not None:
            level = "warning"
            failed = f"try {attempt.number} of {policy.attempts} failed ({attempt.error})"
            text = f"{label}: {failed}; next in {attempt.next_wait:g} s"
        else:
            level = "error"
            text = f"alert '{alert.title}' NOT delivered to {label} after {tries(attempt.number)}: {attempt.error}"
        report.log.append((level, scrub(text)))
    return report


def send_alert(notifiers: Sequence[Notifier], alert: Alert, policy: RetryPolicy, scrub: Scrubber, log) -> list:
    """Send one alert to every notifier at once (one slow destination does not delay the
    others), then write each delivery's log lines to `log` (a Dagster or standard logger)."""
    clean = alert.scrubbed(scrub)
    return send_to_each(notifiers, lambda notifier: deliver(notifier, clean, policy, scrub), log)
