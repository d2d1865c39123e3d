"""Alert destinations on loopback and the secrets the alert tests set."""

import base64
import logging

import pytest

from billing_pipelines_tests.alerts.receivers import SlackReceiver, SmtpReceiver, WebhookReceiver

SLACK_TOKEN = "xoxb-4242-test-bot-token-3f9c1d"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"billing-alerts-webhook-secret-32b").decode()
SOURCE_PASSWORD = "Pg-s3cret-pass-7e1b"
SECRETS = (SLACK_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"), SOURCE_PASSWORD)


@pytest.fixture
def slack():
    with SlackReceiver(SLACK_TOKEN) as receiver:
        yield receiver


@pytest.fixture
def webhook():
    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def smtp():
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def alert_secrets(monkeypatch):
    """The notifiers' secrets and a source's URL with a password, as a deployment sets them."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("BILLING_ALERT_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("APP_DB_URL", f"postgresql://billing:{SOURCE_PASSWORD}@127.0.0.1:1/app")


class Captured(logging.Handler):
    """Every log line a sensor or notifier wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname.lower(), record.getMessage()))

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def error(self, text: str) -> None:
        self.lines.append(("error", text))

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


@pytest.fixture
def log():
    return Captured()
