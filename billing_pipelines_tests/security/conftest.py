"""One small company, run once for the whole security folder, with every secret a canary.

The project is configured as a deployment would be (billing.yaml naming variables, the secrets
in the environment, a Dagster instance of its own under a DAGSTER_HOME), then:

1. the push API is started and called with a good key (usage with hostile values, a CSV upload),
   a wrong key, and signed and forged Stripe and HubSpot webhooks;
2. a run that succeeds: the app database on the real PostgreSQL (its URL carries the canary
   password of a role made for the test), a Stripe account (canary key), the landing zone (the
   API's files), then every dbt model;
3. a run in which every source fails: the app database moved to a URL (another canary
   password) whose host refuses connections, Stripe refuses the key with a 401 that quotes it
   back, the portal refuses the HubSpot token, Snowflake refuses the login, and the BigQuery and
   Google Sheets keys' sign-ins are refused;
4. a run whose dbt step fails (a raw table whose columns drifted);
5. the alert and outbound-webhook sensors tick over those failures, to receivers on loopback
   (Slack, a signed webhook whose URL holds a token, e-mail with an SMTP login).

The tests then search every output for the canaries (`test_no_secret_leaks.py`) and read the
data the hostile values became (`test_injection.py`, `test_formula_neutralisation.py`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
import types
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from billing_pipelines.config import current_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.alerts.sensors import RUN_FAILURE_SENSOR
from billing_pipelines.defs.dbt.project import TARGET_DIR
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.webhooks.sensors import SYNC_FAILED_SENSOR
from billing_pipelines.lib import step_retries
from billing_pipelines.lib.runs import failure_messages, partition_range_tags
from billing_pipelines.lib.source_changes import hubspot_signature, stripe_signature
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.alerts.receivers import HttpReceiver, SlackReceiver, SmtpReceiver, WebhookReceiver
from billing_pipelines_tests.ingest_api.conftest import RunningApi
from billing_pipelines_tests.security.canaries import MARKER, pem_body_stretch, whsec
from billing_pipelines_tests.service_accounts import service_account

DAY = date(2026, 9, 1)
FORMULA = '=HYPERLINK("http://evil.example","x")'
"""A spreadsheet formula as a value: must stay exactly this in raw and canonical data."""
SQL_TEXT = "O'Brien; DROP TABLE billing.customers; --"
SQL_METRIC = "x'); DROP TABLE raw_landing.usage_events; --"
FORMULA_METRIC = "@SUM(1+1)*cmd|' /C calc'!A0"
TAB_FORMULA = "\t=1+2"
PLUS_FORMULA = "+1+cmd|' /C calc'!A0"
SQL_PROPERTY = "'; DELETE FROM billing.usage_events; --"
HOSTILE_CUSTOMER = "SEC-1"
APP_CUSTOMER = "SEC-2"
CANARY_ROLE = f"billing_canary_{uuid.uuid4().hex[:8]}"
UI = "http://dagster.security.test:3000"


def canary_secrets() -> dict[str, str]:
    """The secrets of this deployment, each holding the marker (the keys' PEMs are added when
    they are made)."""
    return {
        "app_db_password": f"pw-{MARKER}-1-app-db",
        "moved_db_password": f"pw-{MARKER}-2-moved-app-db",
        "stripe_key": f"sk_test_{MARKER}-3-stripe",
        "hubspot_token": f"pat-eu1-{MARKER}-5-hubspot",
        "snowflake_password": f"pw-{MARKER}-6-snowflake",
        "bigquery_key_id": f"{MARKER}-7-bigquery-key-id",
        "sheets_key_id": f"{MARKER}-8-sheets-key-id",
        "stripe_webhook_secret": f"whsec_{MARKER}-9-stripe-webhook",
        "hubspot_client_secret": f"{MARKER}-10-hubspot-client-secret",
        "slack_token": f"xoxb-{MARKER}-11-slack",
        "alert_webhook_secret": whsec("12-alert-webhook"),
        "outbound_webhook_secret": whsec("13-outbound-webhook"),
        "alert_url_token": f"{MARKER}-14-alert-url-token",
        "smtp_password": f"pw-{MARKER}-15-smtp",
        "bad_api_key": f"bpk_0123456789ab_{MARKER}-16-bad-key",
        "dbt_warehouse_password": f"pw-{MARKER}-17-dbt-warehouse",
    }


class RefusingUpstream(HttpReceiver):
    """A Snowflake login endpoint and a Google OAuth token endpoint that refuse every sign-in,
    as the real ones refuse a wrong password or a revoked key; keeps each body it was sent (the
    only place the secrets are allowed to reach)."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        self.bodies.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        if path.startswith("/token"):
            status, answer = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        else:  # Snowflake answers a refused login with HTTP 200 and success: false
            status, answer = (
                200,
                {
                    "success": False,
                    "code": "390100",
                    "message": "Incorrect username or password was specified.",
                    "data": None,
                },
            )
        return status, {"content-type": "application/json"}, json.dumps(answer).encode()


def billing_yaml(world: types.SimpleNamespace) -> str:
    refusing = world.upstream.url
    return f"""\
history_start: "2026-08-01"
warehouse: {{path: "{world.warehouse_folder / "warehouse.duckdb"}"}}
landing: {{path: landing}}
ingest_api: {{state_path: api_state, segment_seconds: 0.2}}
alerts:
  ui_base_url: {UI}
  max_attempts: 1
  backoff_seconds: 0.01
  notifiers:
    ops_slack: {{kind: slack, channel: "#billing-ops", base_url: "{world.slack.base_url}", token_env: SEC_SLACK_TOKEN}}
    ops_webhook: {{kind: webhook, url: "{world.alert_hook_url}", secret_env: SEC_ALERT_WEBHOOK_SECRET}}
    ops_email:
      kind: email
      host: 127.0.0.1
      port: {world.smtp.port}
      starttls: true
      from: billing-alerts@example.com
      to: ops@example.com
      username: billing-alerts
      password_env: SEC_SMTP_PASSWORD
webhooks:
  finance_app:
    url: "{world.outbound.url}"
    secret_env: SEC_OUTBOUND_WEBHOOK_SECRET
    events: [upload.processed, events.quarantined, sync.failed]
sources:
  app_db:
    kind: sql
    url_env: SEC_APP_DB_URL
    datasets:
      customers:
        query: |
          SELECT account_id, external_id, name, email, phone, line1, line2, city, state, postal_code,
                 country, tax_id, currency, created_at, updated_at, deleted_at
          FROM accounts WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: account_id
      usage_events:
        query: |
          SELECT event_id, customer_external_id, metric, quantity, event_timestamp, properties
          FROM usage WHERE event_timestamp >= :window_start AND event_timestamp < :window_end
        cursor: event_timestamp
        primary_key: event_id
  stripe:
    kind: stripe
    base_url: "{world.stripe_url}"
    api_key_env: SEC_STRIPE_KEY
    webhook_secret_env: SEC_STRIPE_WEBHOOK_SECRET
    max_attempts: 1
  hubspot:
    kind: hubspot
    base_url: "{world.hubspot_url}"
    token_env: SEC_HUBSPOT_TOKEN
    client_secret_env: SEC_HUBSPOT_CLIENT_SECRET
    max_attempts: 1
  google_sheets:
    kind: google_sheets
    base_url: "{refusing}"
    spreadsheet_id: sheet-1
    credentials_env: SEC_SHEETS_KEY
    tabs: {{customers: Customers}}
    max_attempts: 1
  usage_lake:
    kind: snowflake
    account: acme
    user: billing_loader
    password_env: SEC_SNOWFLAKE_PASSWORD
    database: USAGE_LAKE
    host: 127.0.0.1
    port: {world.upstream.port}
    protocol: http
    datasets:
      usage_events:
        query: |
          SELECT * FROM METERED_USAGE WHERE OCCURRED_AT >= :window_start AND OCCURRED_AT < :window_end
        cursor: event_timestamp
        primary_key: event_id
  product_analytics:
    kind: bigquery
    project: sec-analytics
    api_endpoint: "{refusing}"
    credentials_env: SEC_BIGQUERY_KEY
    datasets:
      usage_events:
        query: |
          SELECT * FROM product.usage_events WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


APP_DATABASE = f"""
CREATE TABLE accounts (
    account_id bigint PRIMARY KEY, external_id text, name text, email text, phone text, line1 text, line2 text,
    city text, state text, postal_code text, country text, tax_id text, currency text, created_at timestamptz,
    updated_at timestamptz, deleted_at timestamptz
);
INSERT INTO accounts VALUES (7, '{APP_CUSTOMER}', 'Plain Customer GmbH', 'billing@plain.example', NULL, 'Main St 1',
    NULL, 'Berlin', NULL, '10115', 'DE', NULL, 'EUR', '2026-08-15 08:00+00', '2026-09-01 08:00+00', NULL);
CREATE TABLE usage (
    event_id text PRIMARY KEY, customer_external_id text, metric text, quantity numeric(20, 9),
    event_timestamp timestamptz, properties jsonb
);
INSERT INTO usage VALUES ('app-1', '{APP_CUSTOMER}', 'api_calls', 3, '2026-09-01 09:00+00', '{{"region": "eu"}}');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {CANARY_ROLE};
"""


@pytest.fixture(scope="session")
def app_database(postgres_url):
    """The app database on the real PostgreSQL, readable by a role whose password is a canary;
    yields that role's URL (the server trusts loopback, so the password is carried, not checked)."""
    password = canary_secrets()["app_db_password"]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE ROLE {CANARY_ROLE} LOGIN PASSWORD '{password}'"))
        connection.execute(sa.text(APP_DATABASE))
    url = sa.make_url(postgres_url).set(username=CANARY_ROLE, password=password)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP OWNED BY {CANARY_ROLE}"))
        connection.execute(sa.text(f"DROP ROLE {CANARY_ROLE}"))
    admin.dispose()


def tick(sensor: dg.SensorDefinition, instance, cursor=None) -> tuple[str | None, str]:
    """One evaluation as the daemon makes it; returns the new cursor and the tick's log (the
    text the UI shows under the tick)."""
    log_key = ["security_test", sensor.name, uuid.uuid4().hex]
    context = dg.SensorEvaluationContext(
        instance_ref=instance.get_ref(), instance=instance, cursor=cursor, log_key=log_key, sensor_name=sensor.name
    )
    with context:
        result = sensor.evaluate_tick(context)
    log = (instance.compute_log_manager.get_log_data(log_key).stderr or b"").decode()
    return result.cursor, log


def wait_for_inbox(api: RunningApi, dataset: str, count: int) -> None:
    """Until the API has handed `count` files of `dataset` to the inbox (it seals them every
    `segment_seconds`)."""
    deadline = time.monotonic() + 30
    while len(api.inbox_files(dataset)) < count:
        assert time.monotonic() < deadline, f"the API did not seal its {dataset} file"
        time.sleep(0.1)


def push_through_the_api(world: types.SimpleNamespace) -> None:
    """Good and bad calls, as clients make them; every answer is kept."""
    api, secrets = world.api, world.secrets
    key = api.key("usage:write", "uploads:write", name="security")
    world.secrets["api_key"] = key
    world.secrets["api_key_secret"] = key.split("_", 2)[2]  # what only the key's holder knows
    events = [
        {
            "event_id": "sec-formula",
            "customer_id": HOSTILE_CUSTOMER,
            "metric": FORMULA_METRIC,
            "timestamp": "2026-09-01T10:00:00Z",
            "quantity": "2",
            "properties": {"note": SQL_PROPERTY, "label": FORMULA},
        },
        {
            "event_id": "sec-sql",
            "customer_id": HOSTILE_CUSTOMER,
            "metric": SQL_METRIC,
            "timestamp": "2026-09-01T11:00:00Z",
            "quantity": "1",
        },
        {  # refused by the API: lands for the quarantine with its payload as sent
            "event_id": "sec-rejected",
            "customer_id": HOSTILE_CUSTOMER,
            "metric": "api_calls",
            "timestamp": "2026-09-01T12:00:00Z",
            "quantity": FORMULA,
        },
    ]
    customers_csv = (
        "external_id,name,email,phone,line1,line2,city,state,postal_code,country,tax_id,currency,updated_at\n"
        f'{HOSTILE_CUSTOMER},"{FORMULA.replace(chr(34), chr(34) * 2)}",sec@hostile.example,-2+3,"{SQL_TEXT}",'
        f'"{TAB_FORMULA}","{PLUS_FORMULA}",@SUM(A1),10115,DE,,EUR,2026-09-01T10:00:00Z\n'
    )
    with api.client(key) as client, api.client(secrets["bad_api_key"]) as stranger, api.client() as anonymous:
        answers = {
            "usage accepted": client.post("/v1/usage-events", json=events),
            "upload accepted": client.post(
                "/v1/uploads/customers",
                params={"file_name": "customers.csv"},
                content=customers_csv.encode(),
                headers={"content-type": "text/csv"},
            ),
            "usage with a wrong key": stranger.post("/v1/usage-events", json=events[:1]),
            "upload with a wrong key": stranger.post("/v1/uploads/customers", content=customers_csv.encode()),
            "manual form with a wrong key": anonymous.get("/manual/customer", auth=("ops", secrets["bad_api_key"])),
            "usage with a key in basic auth": anonymous.post(
                "/v1/usage-events", json=events[:1], auth=("ops", secrets["bad_api_key"])
            ),
        }
        stripe_event = json.dumps({"id": "evt_1", "type": "customer.updated", "data": {"object": {}}}).encode()
        now = str(int(time.time()))
        good = f"t={now},v1={stripe_signature(secrets['stripe_webhook_secret'], now, stripe_event)}"
        forged = f"t={now},v1={stripe_signature('whsec_not-the-secret', now, stripe_event)}"
        answers["stripe webhook signed"] = anonymous.post(
            "/v1/webhooks/stripe", content=stripe_event, headers={"Stripe-Signature": good}
        )
        answers["stripe webhook forged"] = anonymous.post(
            "/v1/webhooks/stripe", content=stripe_event, headers={"Stripe-Signature": forged}
        )
        batch = json.dumps([{"eventId": 1, "subscriptionType": "company.propertyChange", "objectId": 7}]).encode()
        uri = f"{api.url}/v1/webhooks/hubspot"
        stamp = str(int(time.time() * 1000))
        for label, secret in (("signed", secrets["hubspot_client_secret"]), ("forged", "not-the-secret")):
            headers = {
                "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", uri, batch, stamp),
                "X-HubSpot-Request-Timestamp": stamp,
            }
            answers[f"hubspot webhook {label}"] = anonymous.post("/v1/webhooks/hubspot", content=batch, headers=headers)
        upload_id = answers["upload accepted"].json()["upload_id"]
        answers["upload status"] = client.get(f"/v1/uploads/{upload_id}")
        answers["upload status with a wrong key"] = stranger.get(f"/v1/uploads/{upload_id}")
    world.answers = answers
    wait_for_inbox(api, "usage_events", 1)
    wait_for_inbox(api, "rejected_records", 1)


def selection(defs: dg.Definitions, groups: tuple[str, ...]) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return sorted(
        key
        for key in graph.materializable_asset_keys
        if graph.get(key).group_name in groups and key.path[0].startswith("raw_")
    )


def dbt_model_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return sorted(
        key for key in graph.materializable_asset_keys if graph.get(key).assets_def.node_def.name == "dbt_models"
    )


def run_assets(world, keys: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
    return world.defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=world.instance, asset_selection=keys, tags=partition_range_tags(DAY, DAY), raise_on_error=False
    )


def stable_warehouse_folder() -> Path:
    """An emptied folder for the warehouse, at the same path in every session: dbt keys its parse
    cache by the warehouse's path, so a later session parses only what changed (≈ 30 s less).
    The path is this checkout's and this pytest worker's own, so that two workers, or two
    checkouts tested at once, never empty each other's folder."""
    checkout = hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:8]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    folder = Path(tempfile.gettempdir()) / f"billing_pipelines_security_warehouse-{checkout}-{worker}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def deploy_secrets(env: pytest.MonkeyPatch, world: types.SimpleNamespace, app_db_url: str, keys: dict) -> None:
    """Every secret in the variable billing.yaml names for it, as a deployment sets them."""
    secrets = world.secrets
    for name, value in {
        "SEC_APP_DB_URL": app_db_url,
        "SEC_STRIPE_KEY": secrets["stripe_key"],
        "SEC_HUBSPOT_TOKEN": secrets["hubspot_token"],
        "SEC_SHEETS_KEY": keys["sheets"],
        "SEC_SNOWFLAKE_PASSWORD": secrets["snowflake_password"],
        "SEC_BIGQUERY_KEY": keys["bigquery"],
        "SEC_STRIPE_WEBHOOK_SECRET": secrets["stripe_webhook_secret"],
        "SEC_HUBSPOT_CLIENT_SECRET": secrets["hubspot_client_secret"],
        "SEC_SLACK_TOKEN": secrets["slack_token"],
        "SEC_ALERT_WEBHOOK_SECRET": secrets["alert_webhook_secret"],
        "SEC_OUTBOUND_WEBHOOK_SECRET": secrets["outbound_webhook_secret"],
        "SEC_SMTP_PASSWORD": secrets["smtp_password"],
    }.items():
        env.setenv(name, value)


def run_and_alert(world: types.SimpleNamespace) -> None:
    """Steps 2 to 5 of the module docstring: the three runs, then the sensors' ticks."""
    instance, secrets = world.instance, world.secrets
    sensors = {sensor.name: sensor for sensor in world.defs.sensors}
    alerts, hooks = sensors[RUN_FAILURE_SENSOR], sensors[SYNC_FAILED_SENSOR]
    alert_cursor, _ = tick(alerts, instance)  # a first tick marks where each sensor starts
    hook_cursor, _ = tick(hooks, instance)

    good = selection(world.defs, ("app_db", "stripe", "landing"))
    world.succeeded = run_assets(world, good + dbt_model_keys(world.defs))
    assert world.succeeded.success, failure_messages(world.succeeded)

    failing = ("app_db", "stripe", "hubspot", "google_sheets", "usage_lake", "product_analytics")
    moved = f"postgresql://billing:{secrets['moved_db_password']}@127.0.0.1:1/app"  # nothing listens on port 1
    # Stripe now quotes back the key it was sent when it refuses it (some APIs do): our error must not.
    refusal = {"type": "invalid_request_error", "message": f"Invalid API Key provided: {secrets['stripe_key']}"}
    world.stripe.inject_faults(401, 10, body={"error": refusal})
    with pytest.MonkeyPatch.context() as broken:  # the app database moved, and its new URL is unreachable
        broken.setenv("SEC_APP_DB_URL", moved)
        world.sources_failed = run_assets(world, selection(world.defs, failing))
    with pytest.MonkeyPatch.context() as broken:  # dbt pointed at a target its profile cannot render
        broken.setenv("DBT_TARGET", "postgres")
        broken.setenv("DBT_ENV_SECRET_BILLING_PG_PASSWORD", secrets["dbt_warehouse_password"])
        world.dbt_failed = run_assets(world, dbt_model_keys(world.defs))

    for _ in range(2):  # the second tick finds nothing new
        alert_cursor, alert_log = tick(alerts, instance, alert_cursor)
        hook_cursor, hook_log = tick(hooks, instance, hook_cursor)
        world.tick_logs += [alert_log, hook_log]


@pytest.fixture(scope="session")
def world(tmp_path_factory, app_database):
    """Everything the module docstring lists, run once; the tests only read what it left."""
    root = tmp_path_factory.mktemp("security")
    (root / "dagster_home").mkdir()
    secrets = canary_secrets()
    upstream = RefusingUpstream().start()
    bigquery_key, bigquery_pem = service_account(f"{upstream.url}/token", secrets["bigquery_key_id"], "sec-analytics")
    sheets_key, sheets_pem = service_account(f"{upstream.url}/token", secrets["sheets_key_id"], "sec-sheets")
    secrets["bigquery_key_pem"] = pem_body_stretch(bigquery_pem)
    secrets["sheets_key_pem"] = pem_body_stretch(sheets_pem)
    stripe = StripeStandin(api_key=secrets["stripe_key"])
    stripe.add_customer(name="Stripe Customer Ltd", email="ap@stripe-customer.example", metadata={})
    hubspot = HubSpotStandin(token="pat-eu1-the-portal-token")  # not the token the source is given
    try:
        with (
            pytest.MonkeyPatch.context() as env,
            SlackReceiver(secrets["slack_token"]) as slack,
            WebhookReceiver(secrets["alert_webhook_secret"]) as alert_hook,
            WebhookReceiver(secrets["outbound_webhook_secret"]) as outbound,
            SmtpReceiver() as smtp,
            stripe.serving() as stripe_url,
            hubspot.serving() as hubspot_url,
            dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance,
        ):
            world = types.SimpleNamespace(
                root=root,
                warehouse_folder=stable_warehouse_folder(),
                home=root / "dagster_home",
                config_path=root / "billing.yaml",
                secrets=secrets,
                upstream=upstream,
                slack=slack,
                alert_hook=alert_hook,
                alert_hook_url=f"{alert_hook.url}?token={secrets['alert_url_token']}",
                outbound=outbound,
                smtp=smtp,
                stripe=stripe,
                stripe_url=stripe_url,
                hubspot_url=hubspot_url,
                instance=instance,
                tick_logs=[],
            )
            world.config_path.write_text(billing_yaml(world))
            env.setenv("BILLING_CONFIG", str(world.config_path))
            env.delenv("BILLING_WAREHOUSE", raising=False)
            deploy_secrets(env, world, app_database, {"sheets": sheets_key, "bigquery": bigquery_key})
            current_config.cache_clear()
            world.config = current_config()
            with pytest.MonkeyPatch.context() as retries:  # only these definitions: other tests keep the shipped policy
                retry = step_retries.RAW_LOAD_RETRY  # one retry, at once: the failing run stays short
                retries.setattr(step_retries, "RAW_LOAD_RETRY", dg.RetryPolicy(1, 0.05, retry.backoff))
                world.defs = build_definitions()

            world.api = RunningApi(root, world.config_path).start()
            try:
                push_through_the_api(world)
                accept_inbox(world.config.landing_path, datetime.now(UTC), world.config.event_time_range)
                run_and_alert(world)
                with world.api.client(secrets["api_key"]) as client:
                    upload_id = world.answers["upload accepted"].json()["upload_id"]
                    world.answers["upload status after the run"] = client.get(f"/v1/uploads/{upload_id}")
            finally:
                world.api.stop()
            ours = [run.run_id[:7] for run in instance.get_runs()]  # dbt names its folders by the run
            world.dbt_targets = sorted(
                path for path in TARGET_DIR.glob("*") if any(f"-{run}-" in path.name for run in ours)
            )
            world.refused_bodies = list(upstream.bodies)
            yield world
    finally:
        upstream.close()
        current_config.cache_clear()


def canonical(world, sql: str) -> list[tuple]:
    with duckdb.connect(str(world.config.warehouse_path), read_only=True) as warehouse:
        return warehouse.execute(sql).fetchall()
