"""Two webhook receivers on loopback, each verifying signatures with its own secret, and the
secrets a deployment would set for them."""

import base64

import pytest

from billing_pipelines_tests.alerts.receivers import WebhookReceiver

APP_SECRET = "whsec_" + base64.b64encode(b"billing-app-ingestion-webhook-32b").decode()
OPS_SECRET = "whsec_" + base64.b64encode(b"billing-ops-sync-failed-secret-32").decode()


@pytest.fixture
def app_receiver():
    """The billing application's endpoint (secret in APP_WEBHOOK_SECRET)."""
    with WebhookReceiver(APP_SECRET) as receiver:
        yield receiver


@pytest.fixture
def ops_receiver():
    """The operations team's endpoint (secret in OPS_WEBHOOK_SECRET)."""
    with WebhookReceiver(OPS_SECRET) as receiver:
        yield receiver


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("APP_WEBHOOK_SECRET", APP_SECRET)
    monkeypatch.setenv("OPS_WEBHOOK_SECRET", OPS_SECRET)
