"""Every kind of pulled source failing mid-stream, through the real `billing_sync` job (raw loads,
then the dbt step) as a schedule tick or the UI would run it.

One project holds one source of each kind, on the real parts: the SQL source `app_db` on the
real PostgreSQL server, Snowflake (`usage_lake`, fakesnow) and BigQuery (`product_analytics`,
bqemulator), each reached through a fault-injecting TCP proxy on loopback (`fault_proxy.py`), and
Stripe, HubSpot and Google Sheets stand-ins over real HTTP, which inject 5xx, 429 storms with
`Retry-After` and connection resets themselves. What the neighbouring suites already cover is
not repeated here (a request's own retries, each SaaS sync failing at the raw level, a Stripe
outage against the canonical tables); these tests cover what they do not: a database or
warehouse connection broken inside its result stream, and every source failing in one sync.

- The first sync meets a transient fault on every source at once: a reset inside PostgreSQL's
  COPY stream, inside Snowflake's and BigQuery's result answers, a 429 storm past Stripe's
  request retries, 502s past HubSpot's, resets on a Google Sheets read. It retries (the client,
  or the step when the client gives up) and succeeds, and every source record is in the
  canonical tables exactly once.
- A later sync, each source having changed meanwhile, meets faults that outlast every retry on
  PostgreSQL, Snowflake, Stripe and HubSpot: it fails naming each broken source and what broke,
  the canonical tables are exactly as the last good sync left them, and the next sync, once the
  sources answer again, carries every change, each record exactly once. (BigQuery's client
  retries a broken connection for up to 10 minutes and the Sheets client backs off past the read
  quota's minute, at least 8 attempts: outlasting those would take minutes of waiting, so both
  stay healthy in that sync and their changes must arrive with it.)
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from billing_pipelines.config import current_config
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib import step_retries
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.sandbox.bigquery_standin import USAGE_COLUMNS
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.google_sheets_standin import GoogleSheetsStandin
from billing_pipelines.sandbox.http_standin import RESET
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines.sandbox.snowflake_standin import STANDIN_PASSWORD
from billing_pipelines.sandbox.stripe_standin import StripeStandin
from billing_pipelines_tests.environment import environment_restored
from billing_pipelines_tests.faults.fault_proxy import FaultProxy
from billing_pipelines_tests.invariants import ExpectedUsage, assert_daily_sums_match, assert_usage_accounted

FIRST, LAST = date(2026, 9, 1), date(2026, 9, 2)
WINDOW_START = datetime(2026, 9, 1, tzinfo=UTC)
EVENTS = 60
"""Usage events per database source, all inside the window (two days)."""
ATTEMPTS = 2
"""Requests per API call (`max_attempts`) of the SaaS sources: a storm of 2 outlasts a request."""
STEP_ATTEMPTS = 1 + step_retries.RAW_LOAD_RETRY.max_retries

PG_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
"""The first bytes of PostgreSQL's binary COPY stream, which the bulk reader reads rows from."""
SNOWFLAKE_ROWS = b"rowsetBase64"
"""The key of a Snowflake query answer that carries its Arrow result."""
BIGQUERY_ROWS = b'"rows"'
"""The key of a BigQuery result page that carries its rows."""
CUT_AFTER_BYTES = 64
"""Where inside the result stream a connection is reset: rows have started to arrive."""

APP_DB_URL_ENV = "SOURCE_FAILURES_APP_DB_URL"
LAKE_PASSWORD_ENV = "SOURCE_FAILURES_USAGE_LAKE_PASSWORD"
STRIPE_KEY_ENV, STRIPE_KEY = "FAULTS_STRIPE_KEY", "sk_test_faults_0123456789"
HUBSPOT_TOKEN_ENV, HUBSPOT_TOKEN = "FAULTS_HUBSPOT_TOKEN", "pat-na1-faults-0123456789"
SHEETS_KEY_ENV = "FAULTS_GOOGLE_SHEETS_CREDENTIALS"
SHEET = "faults-billing-sheet"
SHEETS_CONTRACTS = f"/v4/spreadsheets/{SHEET}/values/%27contracts%27"
SHEETS_RESETS = 2
SNOWFLAKE_DATABASE = "FAULTS_LAKE"
BIGQUERY_DATASET = "faults"
"""The stand-ins are shared by the session: this module keeps to a table, a database and a
dataset of its own."""

CANONICAL = {
    "customers": "select customer_id, name, stripe_customer_id, hubspot_company_id, source_system, is_deleted"
    " from billing.customers",
    "contracts": "select contract_id, customer_id, status, source_system from billing.contracts",
    "contract_items": "select contract_id, product_id, start_date, unit_amount, quantity from billing.contract_items",
    "usage_events": "select event_id, customer_id, metric, quantity, event_timestamp, source_system"
    " from billing.usage_events",
    "quarantine": "select source_system, dataset, location, reason from billing.quarantine",
}
"""What billing reads, every column but the load times (a re-run loads a row again)."""


# --- the usage sources: a metering table in each database kind ----------------------------------


@dataclass(frozen=True)
class UsageEvent:
    event_id: str
    customer: str
    metric: str
    quantity: Decimal
    occurred_at: datetime


def usage_events(prefix: str, numbers: range) -> list[UsageEvent]:
    """Events spread over the window's two days (n < 72), three customers, two metrics, nine decimals."""
    return [
        UsageEvent(
            f"{prefix}-{n}",
            f"CUS-00000{1 + n % 3}",
            ("api_calls", "storage_gb_hours")[n % 2],
            Decimal(n * 1_000_003 + 7).scaleb(-9),
            WINDOW_START + timedelta(minutes=40 * n),
        )
        for n in numbers
    ]


def usage_query(table: str) -> str:
    return f"""    datasets:
      usage_events:
        query: |
          SELECT event_id, account_external_id AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM {table}
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


class PostgresUsage:
    """`fault_usage` on the real PostgreSQL server, read by the bulk reader's COPY stream."""

    name, prefix = "app_db", "pg"

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        with self.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS fault_usage"))
            connection.execute(
                sa.text(
                    "CREATE TABLE fault_usage (event_id text PRIMARY KEY, account_external_id text, metric text,"
                    " quantity numeric(38, 9), occurred_at timestamptz, properties jsonb)"
                )
            )
        self.events: list[UsageEvent] = []

    def add(self, events: list[UsageEvent]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO fault_usage VALUES (:event_id, :customer, :metric, :quantity, :occurred_at, '{}')"
                ),
                [vars(event) for event in events],
            )
        self.events += events

    def config(self, proxy: FaultProxy) -> str:
        return f"    kind: sql\n    url_env: {APP_DB_URL_ENV}\n" + usage_query("fault_usage")


class SnowflakeUsage:
    """METERED_USAGE in a database of its own on the fakesnow server."""

    name, prefix = "usage_lake", "sf"

    def __init__(self, standin):
        import snowflake.connector

        self.standin = standin
        self.connect = lambda: snowflake.connector.connect(**standin.connect_arguments())
        with closing(self.connect()) as connection:
            cursor = connection.cursor()
            cursor.execute(f"CREATE OR REPLACE DATABASE {SNOWFLAKE_DATABASE}")
            cursor.execute(f"CREATE SCHEMA {SNOWFLAKE_DATABASE}.METERING")
            cursor.execute(
                f"CREATE TABLE {SNOWFLAKE_DATABASE}.METERING.METERED_USAGE (EVENT_ID VARCHAR,"
                " ACCOUNT_EXTERNAL_ID VARCHAR, METRIC VARCHAR, QUANTITY NUMBER(38, 9), OCCURRED_AT TIMESTAMP_TZ,"
                " PROPERTIES VARCHAR)"
            )
        self.events: list[UsageEvent] = []

    def add(self, events: list[UsageEvent]) -> None:
        with closing(self.connect()) as connection:
            connection.cursor().executemany(
                f"INSERT INTO {SNOWFLAKE_DATABASE}.METERING.METERED_USAGE VALUES (%s, %s, %s, %s, %s, '{{}}')",
                [(e.event_id, e.customer, e.metric, e.quantity, e.occurred_at) for e in events],
            )
        self.events += events

    def config(self, proxy: FaultProxy) -> str:
        return f"""    kind: snowflake
    account: {self.standin.account}
    user: {self.standin.user}
    password_env: {LAKE_PASSWORD_ENV}
    database: {SNOWFLAKE_DATABASE}
    schema: METERING
    host: 127.0.0.1
    port: {proxy.port}
    protocol: {self.standin.protocol}
""" + usage_query("METERED_USAGE")


class BigQueryUsage:
    """`faults.usage_events` on the BigQuery emulator."""

    name, prefix = "product_analytics", "bq"

    def __init__(self, emulator):
        self.emulator = emulator
        from google.cloud import bigquery as bq

        self.table_id = f"{emulator.project}.{BIGQUERY_DATASET}.usage_events"
        columns = [(name, "STRING" if name == "properties" else kind) for name, kind in USAGE_COLUMNS]
        with closing(emulator.client()) as client:
            client.create_dataset(BIGQUERY_DATASET, exists_ok=True)
            client.delete_table(self.table_id, not_found_ok=True)
            client.create_table(bq.Table(self.table_id, schema=[bq.SchemaField(*column) for column in columns]))
        self.events: list[UsageEvent] = []

    def add(self, events: list[UsageEvent]) -> None:
        """Appended as a Parquet load job: the emulator keeps only three decimals of a NUMERIC
        written by DML, while a load keeps all nine."""
        from google.cloud import bigquery as bq

        table = pa.table(
            {
                "event_id": [e.event_id for e in events],
                "account_external_id": [e.customer for e in events],
                "metric": [e.metric for e in events],
                "quantity": pa.array([e.quantity for e in events], pa.decimal128(38, 9)),
                "occurred_at": pa.array([e.occurred_at for e in events], pa.timestamp("us", tz="UTC")),
                "properties": ["{}" for _ in events],
            }
        )
        parquet = pa.BufferOutputStream()
        pq.write_table(table, parquet)
        job_config = bq.LoadJobConfig(
            source_format=bq.SourceFormat.PARQUET, write_disposition=bq.WriteDisposition.WRITE_APPEND
        )
        with closing(self.emulator.client()) as client:
            data = io.BytesIO(parquet.getvalue().to_pybytes())
            client.load_table_from_file(data, self.table_id, size=None, job_config=job_config).result()
        self.events += events

    def config(self, proxy: FaultProxy) -> str:
        return f"""    kind: bigquery
    project: {self.emulator.project}
    location: US
    api_endpoint: http://127.0.0.1:{proxy.port}
""" + usage_query(f"{BIGQUERY_DATASET}.usage_events")


# --- the project --------------------------------------------------------------------------------


@dataclass
class Sources:
    """The six sources, each database source behind its own fault proxy."""

    postgres: PostgresUsage
    snowflake: SnowflakeUsage
    bigquery: BigQueryUsage
    proxies: dict[str, FaultProxy]
    stripe: StripeStandin
    hubspot: HubSpotStandin
    sheets: GoogleSheetsStandin

    @property
    def usage(self) -> list[PostgresUsage | SnowflakeUsage | BigQueryUsage]:
        return [self.postgres, self.snowflake, self.bigquery]


class Project:
    """billing.yaml naming the six sources, the definitions built from it, a Dagster instance."""

    def __init__(self, root: Path, sources: Sources, urls: dict[str, str]):
        self.sources = sources
        self.warehouse = root / "warehouse.duckdb"
        usage = "".join(f"  {s.name}:\n{s.config(sources.proxies[s.name])}" for s in sources.usage)
        (root / "billing.yaml").write_text(
            f'history_start: "2026-08-01"\nwarehouse: {{path: {self.warehouse}}}\nlanding: {{enabled: false}}\n'
            f"sources:\n{usage}"
            f"  stripe: {{kind: stripe, base_url: '{urls['stripe']}', api_key_env: {STRIPE_KEY_ENV},"
            f" max_attempts: {ATTEMPTS}}}\n"
            f"  hubspot: {{kind: hubspot, base_url: '{urls['hubspot']}', token_env: {HUBSPOT_TOKEN_ENV},"
            f" max_attempts: {ATTEMPTS}}}\n"
            f"  google_sheets: {{kind: google_sheets, base_url: '{urls['google_sheets']}', spreadsheet_id: {SHEET},"
            f" credentials_env: {SHEETS_KEY_ENV}, max_attempts: {ATTEMPTS},"
            " tabs: {customers: customers, contracts: contracts, contract_items: contract_items}}\n"
        )
        current_config.cache_clear()
        from billing_pipelines.definitions import build_definitions  # the configuration in effect

        self.defs = build_definitions()
        self.instance = dg.DagsterInstance.ephemeral()

    def sync(self) -> dg.ExecuteInProcessResult:
        """One run of `billing_sync` over the window: every raw load, then the dbt step."""
        return run_days(self.defs, SYNC_JOB, FIRST, LAST, self.instance)

    def query(self, sql: str, *parameters) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as warehouse:
            return warehouse.execute(sql, list(parameters)).fetchall()

    def canonical(self) -> dict[str, list[tuple]]:
        return {table: sorted(self.query(sql), key=repr) for table, sql in CANONICAL.items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory, postgres_url, snowflake_standin, bigquery) -> Iterator[Project]:
    """The six sources seeded (60 usage events in each database, a small company in each SaaS
    stand-in), the environment set whatever BILLING_* variables the shell exports, the raw
    loads' step retries quick; nothing synced yet."""
    root = tmp_path_factory.mktemp("source_failures")
    postgres, snowflake, bigquery_usage = (
        PostgresUsage(postgres_url),
        SnowflakeUsage(snowflake_standin),
        BigQueryUsage(bigquery),
    )
    for source in (postgres, snowflake, bigquery_usage):
        source.add(usage_events(source.prefix, range(EVENTS)))
    stripe = StripeStandin(api_key=STRIPE_KEY)
    stripe.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=11, accounts=12))
    hubspot = HubSpotStandin(token=HUBSPOT_TOKEN)
    hubspot.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=12, accounts=12))
    sheets = GoogleSheetsStandin()
    sheets.seed_from_sandbox(SHEET, *app_company(date(2026, 9, 30), seed=13, accounts=40))
    pg_address = sa.make_url(postgres_url)
    proxies = {
        "app_db": FaultProxy(pg_address.host, pg_address.port or 5432),
        "usage_lake": FaultProxy(snowflake_standin.host, snowflake_standin.port),
        "product_analytics": FaultProxy("127.0.0.1", int(bigquery.api_endpoint.rsplit(":", 1)[1])),
    }
    with (
        environment_restored(),
        pytest.MonkeyPatch.context() as env,
        proxies["app_db"].running(),
        proxies["usage_lake"].running(),
        proxies["product_analytics"].running(),
        stripe.serving() as stripe_url,
        hubspot.serving() as hubspot_url,
        sheets.serving() as sheets_url,
    ):
        for name in list(os.environ):
            if name.startswith(("BILLING_", "DBT_ENV_SECRET_")) and not name.startswith("BILLING_TEST_"):
                env.delenv(name)
        env.setenv("BILLING_CONFIG", str(root / "billing.yaml"))
        env.setenv(APP_DB_URL_ENV, pg_address.set(port=proxies["app_db"].port).render_as_string(hide_password=False))
        env.setenv(LAKE_PASSWORD_ENV, STANDIN_PASSWORD)
        env.setenv(STRIPE_KEY_ENV, STRIPE_KEY)
        env.setenv(HUBSPOT_TOKEN_ENV, HUBSPOT_TOKEN)
        env.setenv(SHEETS_KEY_ENV, json.dumps(sheets.service_account_info(sheets_url)))
        policy = step_retries.RAW_LOAD_RETRY
        env.setattr(step_retries, "RAW_LOAD_RETRY", dg.RetryPolicy(policy.max_retries, 0.05, policy.backoff))
        sources = Sources(postgres, snowflake, bigquery_usage, proxies, stripe, hubspot, sheets)
        urls = {"stripe": stripe_url, "hubspot": hubspot_url, "google_sheets": sheets_url}
        try:
            yield Project(root, sources, urls)
        finally:
            current_config.cache_clear()
            postgres.engine.dispose()


def retried_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY}


def assert_usage_exactly_once(project: Project) -> None:
    """Each database source's usage, every event once, as the source holds it, in raw and in
    canonical, and the daily totals equal to the source's own."""
    expected = [
        ExpectedUsage(e.event_id, e.customer, e.metric, e.quantity, e.occurred_at, source_system=source.name)
        for source in project.sources.usage
        for e in source.events
    ]
    names = [source.name for source in project.sources.usage]
    assert_usage_accounted(project.warehouse, expected, source_systems=names)
    assert_daily_sums_match(project.warehouse, expected, table="billing.daily_usage_totals")
    for source in project.sources.usage:
        raw = project.query(f"select count(*), count(distinct event_id) from raw_{source.name}.usage_events")
        assert raw == [(len(source.events), len(source.events))], f"raw_{source.name}: every event once"


RAW_OBJECTS = {
    "stripe": {"customers": "id", "subscriptions": "id", "subscription_items": "id", "prices": "id"},
    "hubspot": {"companies": "id", "deals": "id", "line_items": "id"},
    "google_sheets": {"customers": "_line", "contracts": "_line", "contract_items": "_line"},
}


def assert_saas_records_exactly_once(project: Project) -> None:
    """Each SaaS record the stand-in serves is in raw exactly once, and the canonical tables
    carry each source's ids once: nothing lost or doubled by a retried request or step."""
    stripe, hubspot, sheets = project.sources.stripe, project.sources.hubspot, project.sources.sheets
    served = {
        ("stripe", "customers"): {c["id"] for c in stripe.objects("customers") if not c.get("deleted")},
        ("stripe", "subscriptions"): {s["id"] for s in stripe.objects("subscriptions")},
        ("hubspot", "companies"): set(hubspot.records("companies")) | set(hubspot.records("companies", archived=True)),
        ("hubspot", "deals"): set(hubspot.records("deals")) | set(hubspot.records("deals", archived=True)),
        ("google_sheets", "customers"): set(range(2, len(sheets.tab_rows(SHEET, "customers")) + 1)),
        ("google_sheets", "contracts"): set(range(2, len(sheets.tab_rows(SHEET, "contracts")) + 1)),
    }
    for source, tables in RAW_OBJECTS.items():
        for table, key in tables.items():
            [(rows, keys)] = project.query(f"select count(*), count(distinct {key}) from raw_{source}.{table}")
            assert rows == keys > 0, f"raw_{source}.{table}: every record once"
            if (source, table) in served:
                loaded = {k for (k,) in project.query(f"select {key} from raw_{source}.{table}")}
                assert served[source, table] <= {str(k) if source == "hubspot" else k for k in loaded}, (
                    f"raw_{source}.{table}: every record the source serves"
                )
    for column in ("stripe_customer_id", "hubspot_company_id"):
        [(rows, ids)] = project.query(f"select count({column}), count(distinct {column}) from billing.customers")
        assert rows == ids > 0, f"billing.customers.{column}: one customer per source id"
    for column in ("stripe_subscription_id", "hubspot_deal_id"):
        [(rows, ids)] = project.query(f"select count({column}), count(distinct {column}) from billing.contracts")
        assert rows == ids > 0, f"billing.contracts.{column}: one contract per source id"
    live_stripe = {c["id"] for c in stripe.objects("customers") if not c.get("deleted")}
    canonical_stripe = {i for (i,) in project.query("select stripe_customer_id from billing.customers")}
    assert live_stripe <= canonical_stripe, "every live Stripe customer is a canonical customer"
    live_companies = set(hubspot.records("companies"))
    canonical_companies = {i for (i,) in project.query("select hubspot_company_id from billing.customers")}
    assert live_companies <= canonical_companies, "every live HubSpot company is a canonical customer"
    sheet_customers = {row[0] for row in sheets.tab_rows(SHEET, "customers")[1:]}
    canonical_ids = {i for (i,) in project.query("select customer_id from billing.customers")}
    assert sheet_customers <= canonical_ids, "every customer of the sheet is a canonical customer"


@pytest.fixture(scope="module")
def first_sync(project) -> dg.ExecuteInProcessResult:
    """The first sync, with one transient fault armed on every source."""
    sources = project.sources
    sources.proxies["app_db"].cut_after(CUT_AFTER_BYTES, PG_COPY_SIGNATURE)
    sources.proxies["usage_lake"].cut_after(CUT_AFTER_BYTES, SNOWFLAKE_ROWS)
    sources.proxies["product_analytics"].cut_after(CUT_AFTER_BYTES, BIGQUERY_ROWS)
    # past each request's retries: the step is retried once, and the second attempt gets through
    sources.stripe.inject_faults(429, ATTEMPTS, retry_after=0.05, path_prefix="/v1/subscriptions")
    sources.hubspot.inject_faults(502, ATTEMPTS, path_prefix="/crm/v3/objects/deals")
    # Google Sheets backs off past the read quota's minute, at least 8 attempts: the request rides it out
    sources.sheets.inject_faults(RESET, SHEETS_RESETS, path_prefix=SHEETS_CONTRACTS)
    return project.sync()


def test_a_transient_fault_on_every_source_is_retried_and_each_record_lands_exactly_once(project, first_sync):
    assert first_sync.success, failure_messages(first_sync)
    proxies = project.sources.proxies
    assert [proxies[name].cuts for name in ("app_db", "usage_lake", "product_analytics")] == [1, 1, 1]
    assert not any(proxy.armed for proxy in proxies.values())
    statuses = {
        name: [r.status for r in standin.log]
        for name, standin in (
            ("stripe", project.sources.stripe),
            ("hubspot", project.sources.hubspot),
            ("google_sheets", project.sources.sheets),
        )
    }
    assert (statuses["stripe"].count(429), statuses["hubspot"].count(502)) == (ATTEMPTS, ATTEMPTS)
    assert statuses["google_sheets"].count(RESET) == SHEETS_RESETS
    assert project.sources.sheets.requests_to(SHEETS_CONTRACTS) == SHEETS_RESETS + 1
    # the PostgreSQL and Snowflake reads, and the API syncs whose request retries ran out, were
    # retried by the step; BigQuery's client and the Sheets client retried their own requests
    assert retried_steps(first_sync) == {"app_db_usage", "usage_lake_usage", "stripe_api", "hubspot_api"}
    assert_usage_exactly_once(project)
    assert_saas_records_exactly_once(project)
    assert project.query(
        "select count(*) from billing.quarantine where source_system in ('app_db', 'usage_lake', 'product_analytics')"
    ) == [(0,)]


def test_faults_that_outlast_the_retries_fail_clearly_leave_canonical_as_it_was_and_the_next_sync_catches_up(
    project, first_sync
):
    assert first_sync.success, failure_messages(first_sync)
    sources = project.sources
    before = project.canonical()
    # every source changes while it is failing
    for source in sources.usage:
        source.add(usage_events(source.prefix, range(EVENTS, EVENTS + 5)))
    sources.stripe.advance(60)
    customer = next(c for c in sources.stripe.objects("customers") if not c.get("deleted"))
    sources.stripe.update_customer(customer["id"], name="Renamed During The Stripe Outage")
    company = next(iter(sources.hubspot.records("companies")))
    sources.hubspot.update("companies", company, name="Renamed During The HubSpot Outage")
    # a customer only the sheet knows: no other system's record of it wins over the sheet's
    of_other_systems = project.query(
        "select customer_id from billing.customers where stripe_customer_id is not null or hubspot_company_id is not null"
    )
    rows = sources.sheets.tab_rows(SHEET, "customers")
    line = next(n for n, row in enumerate(rows) if n > 0 and (row[0],) not in of_other_systems)
    rows[line] = [rows[line][0], "Renamed During The Sheets Outage", *rows[line][2:]]
    sources.sheets.set_tab(SHEET, "customers", rows)
    # faults that outlast each request's retries and every retry of the step
    sources.proxies["app_db"].cut_every(CUT_AFTER_BYTES, PG_COPY_SIGNATURE)
    sources.proxies["usage_lake"].cut_every(CUT_AFTER_BYTES, SNOWFLAKE_ROWS)
    storm = ATTEMPTS * STEP_ATTEMPTS
    sources.stripe.inject_faults(503, storm, path_prefix="/v1/events")
    sources.hubspot.inject_faults(429, storm, retry_after=0.05, path_prefix="/crm/v3/objects/companies")

    failed = project.sync()

    assert not failed.success
    messages = failure_messages(failed)
    clear = {
        "app_db_usage": "SourceReadError: reading the postgresql source failed: OSError: [libpq] PQgetCopyData()"
        " failed: server closed the connection unexpectedly",
        "usage_lake_usage": "Connection broken: ConnectionResetError(104, 'Connection reset by peer')",
        "stripe_api": f"stripe: GET /v1/events failed after {ATTEMPTS} attempts with HTTP 503",
        "hubspot_api": f"hubspot: POST /crm/v3/objects/companies/search failed after {ATTEMPTS} attempts with HTTP 429",
    }
    failures = {e.step_key: str(e.event_specific_data.error) for e in failed.get_step_failure_events()}
    assert set(failures) == set(clear), messages
    for step, words in clear.items():
        assert words in failures[step], f"{step}: {words!r} not in:\n{failures[step]}"
        assert STRIPE_KEY not in failures[step] and HUBSPOT_TOKEN not in failures[step]
    assert "dbt_models" not in {e.step_key for e in failed.get_step_success_events()}
    assert project.canonical() == before, "nothing of the failed sync reached the canonical tables"

    for proxy in sources.proxies.values():
        proxy.heal()
    recovered = project.sync()

    assert recovered.success, failure_messages(recovered)
    assert_usage_exactly_once(project)
    assert_saas_records_exactly_once(project)
    after = project.canonical()
    names = {name for _, name, *_ in after["customers"]}
    assert {
        "Renamed During The Stripe Outage",
        "Renamed During The HubSpot Outage",
        "Renamed During The Sheets Outage",
    } <= names
    new_usage = {e.event_id for s in sources.usage for e in s.events[EVENTS:]}
    assert [row for row in after["usage_events"] if row[0] not in new_usage] == before["usage_events"]
    assert len(after["usage_events"]) == len(before["usage_events"]) + len(new_usage)
    for table in ("contracts", "contract_items", "quarantine"):
        assert after[table] == before[table], f"billing.{table}: nothing but the changes moved"
    assert len(after["customers"]) == len(before["customers"])
