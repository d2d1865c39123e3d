"""Credentials of a BigQuery source: the key lives in the variable billing.yaml names, a missing
or unusable key fails the run naming that variable, and the key itself is never printed."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from billing_pipelines.defs.bigquery.assets import bigquery_source_definitions
from billing_pipelines.defs.bigquery.resources import SourceUnavailable, key_info, source_credentials
from billing_pipelines.lib.warehouse import Warehouse
from billing_pipelines_tests.service_accounts import service_account

KEY_ENV = "PRODUCT_ANALYTICS_KEY"
WINDOW = {"dagster/asset_partition_range_start": "2026-09-01", "dagster/asset_partition_range_end": "2026-09-01"}


def source(endpoint: str) -> str:
    return f"""
sources:
  product_analytics:
    kind: bigquery
    project: sandbox-analytics
    api_endpoint: {endpoint}
    credentials_env: {KEY_ENV}
    datasets:
      usage_events:
        query: |
          SELECT event_id, account_external_id AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM product.usage_events
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


class TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint as a service-account key meets it: it grants a token for a
    signed assertion, or refuses one from a revoked key."""

    grant = True
    assertions = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        TokenEndpoint.assertions += 1
        status, body = (
            (200, {"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"})
            if TokenEndpoint.grant
            else (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def token_uri():
    server = HTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()
    server.server_close()


def service_account_key(token_uri: str) -> tuple[str, str]:
    """A service-account key JSON (a fresh RSA key) and the private key's PEM body."""
    key, pem = service_account(token_uri, "0123456789abcdef", "sandbox-analytics")
    return key, "".join(pem.splitlines()[1:-1])


def materialize(config) -> dg.ExecuteInProcessResult:
    assets = [a for a in bigquery_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize(
        assets,
        selection="raw_product_analytics/usage_events",
        resources={"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))},
        tags=WINDOW,
        raise_on_error=False,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return str(result.get_step_failure_events()[0].event_specific_data.error)


def test_missing_credentials_variable_fails_the_run_with_its_name(bigquery, project_config, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = materialize(project_config(source(bigquery.api_endpoint)))
    assert not result.success
    assert f"environment variable {KEY_ENV} is not set" in failure_message(result)


def test_a_key_from_the_variable_authenticates_and_is_never_printed(
    bigquery, usage_table, project_config, monkeypatch, token_uri, capfd
):
    key_json, private_key = service_account_key(token_uri)
    monkeypatch.setenv(KEY_ENV, key_json)
    config = project_config(source(bigquery.api_endpoint))

    monkeypatch.setattr(TokenEndpoint, "grant", True)
    monkeypatch.setattr(TokenEndpoint, "assertions", 0)
    granted = materialize(config)
    assert granted.success and TokenEndpoint.assertions > 0  # the client signed in with the key
    monkeypatch.setattr(TokenEndpoint, "grant", False)
    revoked = materialize(config)

    assert not revoked.success and "invalid_grant" in failure_message(revoked)
    printed = capfd.readouterr()
    everything = "\n".join(
        [printed.out, printed.err, *(repr(event) for event in granted.all_events + revoked.all_events)]
    )
    for secret in (private_key, private_key[:64], key_json):
        assert secret not in everything


@pytest.mark.parametrize(
    "value, reason",
    [
        ("", "is not set"),
        ('{"type": "service_account", "private_key": "-----BEGIN', "is not valid JSON"),
        ('["-----BEGIN PRIVATE KEY-----"]', "is not a JSON object"),
    ],
)
def test_an_unreadable_variable_is_named_and_not_quoted(value, reason, monkeypatch):
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(SourceUnavailable, match=f"{KEY_ENV} .*{reason}") as raised:
        key_info(KEY_ENV)
    assert "BEGIN" not in str(raised.value)


def test_an_unusable_key_is_named_and_not_quoted_nor_chained(monkeypatch):
    key = {"type": "service_account", "client_email": "x@y", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"}
    monkeypatch.setenv(KEY_ENV, json.dumps(key))
    with pytest.raises(SourceUnavailable, match=f"{KEY_ENV} holds a service-account key that cannot be used") as raised:
        source_credentials(KEY_ENV, None)
    assert "AAAA" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_emulator_is_reached_anonymously_and_production_by_application_default_credentials():
    from google.auth.credentials import AnonymousCredentials

    assert isinstance(source_credentials(None, "http://127.0.0.1:9050"), AnonymousCredentials)
    assert source_credentials(None, None) is None


def test_production_reads_through_the_storage_read_api_and_an_emulator_over_rest(monkeypatch, token_uri):
    from google.cloud.bigquery_storage import BigQueryReadClient

    from billing_pipelines.config import BigQueryConnection
    from billing_pipelines.defs.bigquery.resources import bigquery_resource

    monkeypatch.setenv(KEY_ENV, service_account_key(token_uri)[0])
    production = bigquery_resource(BigQueryConnection(project="acme-billing", location="EU", credentials_env=KEY_ENV))
    emulator = bigquery_resource(BigQueryConnection(project="sandbox-analytics", api_endpoint="http://127.0.0.1:9050"))
    assert isinstance(production.storage_read_client(), BigQueryReadClient)
    assert emulator.storage_read_client() is None
    with production.get_client() as client:
        assert (client.project, client.location) == ("acme-billing", "EU")
