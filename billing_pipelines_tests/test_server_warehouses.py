"""The same dbt project and pipeline on a server warehouse (`warehouse.kind`), with the same
canonical tables as on DuckDB.

Tables are compared by row count and an order-independent checksum of each row's canonical text
(a decimal by its value, an instant in UTC), so no warehouse type or row order can hide a
difference.

1. The dbt project on each server warehouse, against DuckDB: the hand-written raw tables of
   `dbt/test_models.py` (one record per mapping rule and reject reason, typed and text raw
   values) plus a corpus of timestamp and decimal spellings and of the other usage checks
   (properties, control characters, missing values), written into PostgreSQL (a real
   server), Snowflake (fakesnow's server) and BigQuery (bqemulator), then one `dbt build` on the
   warehouse's dbt target. Every canonical table and view must equal DuckDB's. A payload built
   from typed raw values (numbers) is compared as JSON values: its number spelling is the
   warehouse's (10 or 10.0); text values are compared as they are.
2. The demo pipeline with PostgreSQL as the warehouse: the sandbox company's migration runs
   through `billing_sync` once into DuckDB and once into PostgreSQL (dlt's postgres destination,
   the dbt postgres target), and every canonical table and view holds the same rows, payloads
   included byte for byte. The columns that record when a warehouse's own load ran
   (`ingested_at`, `quarantined_at`) are left out: the two runs load at different moments.
   Re-running a window on PostgreSQL changes nothing, and a run that rebuilds only some models
   keeps the views that read them. The same migration into BigQuery (bqemulator, dlt's client
   pointed at it) holds the same tables too.

Snowflake's stand-in cannot take dlt's loads (fakesnow 0.12 does not parse the quoted stage path
dlt's PUT names), so on Snowflake only the dbt project is compared. fakesnow and bqemulator run
the SQL on DuckDB: they show that the SQL written for Snowflake and BigQuery runs and means the
same, not how the real services read rare input spellings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest

from billing_pipelines.config import current_config, load_config, parse_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.dbt.assets import existing_relations
from billing_pipelines.defs.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.warehouse import Warehouse, dbt_environment, warehouse_for
from billing_pipelines.sandbox.bigquery_standin import running_bigquery
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines.sandbox.snowflake_standin import STANDIN_PASSWORD, running_snowflake
from billing_pipelines_tests.conftest import POSTGRES_ADMIN_URL, scratch_database
from billing_pipelines_tests.dbt.test_models import LandingFile, add_landing_rows, create_raw_tables
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES
from billing_pipelines_tests.test_end_to_end import CONFIG, ITEMS_VIEW

CANONICAL = {  # every canonical table and view, without the columns that record load time
    "customers": "customer_id, external_id, name, email, phone, line1, line2, city, state, postal_code, country,"
    " tax_ids, currency, app_db_account_id, stripe_customer_id, hubspot_company_id, created_at, updated_at,"
    " is_deleted, source_system",
    "contracts": "contract_id, customer_id, name, status, currency, start_date, end_date, renewal_policy,"
    " app_db_subscription_id, stripe_subscription_id, hubspot_deal_id, updated_at, is_deleted, source_system",
    "contract_items": "contract_id, product_id, product_name, pricing_model, unit_amount, currency, billing_period,"
    " quantity, metric, start_date, end_date, tiers",
    "usage_events": "event_id, customer_id, metric, quantity, event_timestamp, properties, source_system",
    "usage_events_quarantine": "source_system, dataset, location, reason, payload, event_date",
    "daily_usage_totals": "usage_date, customer_id, metric, total_quantity, event_count, max_quantity",
    "billable_usage_daily": "usage_date, customer_id, metric, total_quantity, event_count, max_quantity",
    "quarantine": "source_system, dataset, location, reason, payload",
}
PAYLOAD = "payload"


# --- comparing tables across warehouses -------------------------------------------------------


def canonical_text(value: object) -> str | None:
    """One value as text that does not depend on the warehouse's types: a decimal by its value
    (2.000000000 = 2), an instant in UTC, a date in ISO form."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"an instant without a time zone cannot be compared: {value!r}")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | int | float):
        return value.isoformat() if isinstance(value, date) else repr(value)
    raise TypeError(f"no canonical text for {type(value).__name__}")


def json_value_text(payload: str | None) -> str | None:
    """A JSON payload by its value, numbers by their decimal value (10 = 10.0 = 10.000); a payload
    that is not JSON (a raw CSV line) as it is."""
    try:
        value = json.loads(payload, parse_float=Decimal, parse_int=Decimal) if payload else None
    except json.JSONDecodeError:
        return payload
    return json.dumps(value, default=lambda number: format(number.normalize(), "f")) if value is not None else payload


def row_texts(rows: list[tuple]) -> list[str]:
    return [json.dumps([canonical_text(v) for v in row]) for row in rows]


def fingerprint(rows: list[tuple]) -> tuple[int, str]:
    """Row count and an order-independent checksum: the sum of every row's SHA-256."""
    digests = (hashlib.sha256(text.encode()).digest() for text in row_texts(rows))
    return len(rows), f"{sum(int.from_bytes(d) for d in digests) % 2**256:064x}"


def canonical_tables(query: Callable[[str], list[tuple]], payload_as_json: bool = False) -> dict[str, list[tuple]]:
    """The rows of every canonical table and view read with `query` (payloads as JSON values)."""
    tables = {}
    for table, columns in CANONICAL.items():
        rows = query(f"SELECT {columns} FROM billing.{table}")
        if payload_as_json and PAYLOAD in columns.split(", "):
            at = columns.split(", ").index(PAYLOAD)
            rows = [(*row[:at], json_value_text(row[at]), *row[at + 1 :]) for row in rows]
        tables[table] = rows
    return tables


def assert_same_tables(actual: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    """Equal fingerprints per table; on a difference, the rows only one side has."""
    differing = {
        table: (sorted(set(row_texts(rows)) - set(row_texts(expected[table])))[:5],
                sorted(set(row_texts(expected[table])) - set(row_texts(rows)))[:5])
        for table, rows in actual.items()
        if fingerprint(rows) != fingerprint(expected[table])
    }  # fmt: skip
    assert not differing, "\n".join(
        f"{t}: only here {here}, only in the reference {there}" for t, (here, there) in differing.items()
    )


def canonical_fingerprints(query: Callable[[str], list[tuple]]) -> dict[str, tuple[int, str]]:
    return {table: fingerprint(rows) for table, rows in canonical_tables(query).items()}


def test_canonical_text_is_independent_of_the_warehouse_types():
    berlin = timezone(timedelta(hours=2))
    assert canonical_text(Decimal("2.000000000")) == canonical_text(Decimal("2")) == "2"
    assert canonical_text(Decimal("1E+1")) == "10"
    assert canonical_text(datetime(2026, 9, 1, 2, tzinfo=berlin)) == canonical_text(datetime(2026, 9, 1, tzinfo=UTC))
    assert (
        canonical_text(True) == "true" and canonical_text(1) == "1" and canonical_text(date(2026, 9, 1)) == "2026-09-01"
    )
    with pytest.raises(ValueError):
        canonical_text(datetime(2026, 9, 1))


def test_json_payloads_compare_numbers_by_value_and_text_as_it_is():
    assert json_value_text('{"id":16,"quantity":10.0}') == json_value_text('{"id":16,"quantity":10}')
    assert json_value_text('{"amount":1.0000}') == json_value_text('{"amount":1.000000000}')
    assert json_value_text('{"quantity":"10.0"}') != json_value_text('{"quantity":"10"}')
    assert json_value_text("E9,C1,api_calls,1") == "E9,C1,api_calls,1"


def test_fingerprints_ignore_row_order_but_not_content():
    rows = [("a", Decimal("1.50")), ("b", None)]
    assert fingerprint(rows) == fingerprint([("b", None), ("a", Decimal("1.5"))])
    assert fingerprint(rows) != fingerprint([("a", Decimal("1.51")), ("b", None)])
    assert fingerprint(rows) != fingerprint([*rows, ("a", Decimal("1.5"))])


# --- 1. the dbt project on each warehouse, from the same raw tables ---------------------------

SPELLINGS = [  # (quantity, event_timestamp) as senders write them; staging parses or rejects each
    ("1", "2024-01-01T10:00:00Z"),
    ("+2", "2024-01-01 10:00:00"),
    ("-1.5", "2024-01-01T12:00:00+02:00"),
    (".5", "2024-01-01T10:00:00.123456Z"),
    ("1e3", "2024-01-01T10:00:00.1234567Z"),
    ("0.0000000004", "2024-01-01 10:00:00-0800"),  # a 10th decimal digit: rejected, never rounded
    ("1.0000000005", "2024-01-01T11:00:00Z"),
    ("1e-12", "2024-01-01T11:00:00Z"),
    ("100e-11", "2024-01-01T11:00:00Z"),  # 1e-9
    ("1.500000000000", "2024-01-01T11:00:00Z"),
    ("7", "2024-01-01"),
    ("12abc", "2024-01-01T10:00:00Z"),
    ("1.2.3", "2024-01-01T10:00:00Z"),
    ("NaN", "2024-01-01T10:00:00Z"),
    ("1", "2024-02-30T00:00:00Z"),
    ("1", "2024-13-01T00:00:00Z"),
    ("1", "2024-01-01T25:00:00Z"),
    ("1", "yesterday"),
    ("1", "not a timestamp"),
]
NOT_JSON = [("C1", "api_calls", "1", "{region: eu}"), ("C1", "api_calls", "1", '{"note": "two\nlines"}')]
"""Properties that are not JSON. bqemulator cannot hold them: a view keeps its SQL as DuckDB
writes it back, which drops the TRY() that SAFE.PARSE_JSON becomes, so reading the staging view
fails on them."""
CHECKED = [  # (customer, metric, quantity, properties): staging's other checks on usage
    ("C1", "api_calls", "1", '{"region": "eu"}'),
    ("C1", "api_calls", "1", " null "),
    *NOT_JSON,
    ("C1", "api_calls", "1", "[1,2]"),
    ("C1", "api_calls", "1", '"x"'),
    ("C1", "api_calls", "1", "3"),
    ("C1\x1b", "api_calls", "1", None),
    ("C1", "api\tcalls", "1", None),
    ("C1", "api_calls\x7f", "1", None),
    ("C1", "api_calls", None, None),
    ("C1", "api_calls", "1e-10", "[1]"),
]


def spellings_file(spellings: list[tuple[str, str]], checked: list[tuple] = CHECKED) -> LandingFile:
    rows = [(f"S-{n}", "C1", "api_calls", quantity, stamp, None) for n, (quantity, stamp) in enumerate(spellings)]
    rows += [(f"K-{n}", *row[:3], "2024-01-01T10:00:00Z", row[3]) for n, row in enumerate(checked)]
    return LandingFile("spellings.csv", "2024-01-03 09:00:00+00", rows)


TYPES = {  # DuckDB type of a raw column -> the same type on each warehouse
    "postgres": {"VARCHAR": "text", "BIGINT": "bigint", "DOUBLE": "double precision", "DATE": "date",
                 "TIMESTAMP WITH TIME ZONE": "timestamptz", "DECIMAL(12,4)": "numeric(12, 4)"},
    "snowflake": {"VARCHAR": "VARCHAR", "BIGINT": "NUMBER(19, 0)", "DOUBLE": "FLOAT", "DATE": "DATE",
                  "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "DECIMAL(12,4)": "NUMBER(12, 4)"},
    "bigquery": {"VARCHAR": "STRING", "BIGINT": "INT64", "DOUBLE": "FLOAT64", "DATE": "DATE",
                 "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "DECIMAL(12,4)": "NUMERIC"},
}  # fmt: skip
RawTable = tuple[str, str, list[tuple[str, str]], list[tuple]]
"""schema, table, [(column, DuckDB type)], rows"""
Reference = tuple[list[RawTable], dict[str, list[tuple]]]


def raw_tables(path: Path) -> list[RawTable]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        return [
            (
                schema,
                table,
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall(),
                con.execute(f"SELECT * FROM {schema}.{table}").fetchall(),
            )
            for schema, table in tables
        ]


def write_postgres(url: str, tables: list[RawTable]) -> None:
    with psycopg.connect(url) as connection:
        for schema, table, columns, rows in tables:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            typed = ", ".join(f"{name} {TYPES['postgres'][kind]}" for name, kind in columns)
            connection.execute(f"CREATE TABLE {schema}.{table} ({typed})")
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {schema}.{table} VALUES ({', '.join(['%s'] * len(columns))})", rows)


def write_snowflake(standin, database: str, tables: list[RawTable]) -> None:
    import snowflake.connector

    with snowflake.connector.connect(**standin.connect_arguments()) as connection:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        cursor.execute(f"USE DATABASE {database}")
        for schema, table, columns, rows in tables:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            typed = ", ".join(f"{name} {TYPES['snowflake'][kind]}" for name, kind in columns)
            cursor.execute(f"CREATE TABLE {schema}.{table} ({typed})")
            cursor.executemany(f"INSERT INTO {schema}.{table} VALUES ({', '.join(['%s'] * len(columns))})", rows)


def write_bigquery(client, project: str, tables: list[RawTable]) -> None:
    from google.cloud import bigquery

    def json_value(value):
        return str(value) if isinstance(value, Decimal) else value.isoformat() if isinstance(value, date) else value

    for schema, table, columns, rows in tables:
        client.create_dataset(schema, exists_ok=True)
        fields = [bigquery.SchemaField(name, TYPES["bigquery"][kind]) for name, kind in columns]
        created = client.create_table(bigquery.Table(f"{project}.{schema}.{table}", schema=fields))
        names = [name for name, _ in columns]
        assert not client.insert_rows_json(created, [dict(zip(names, map(json_value, row))) for row in rows])


def dbt_build(environment: dict[str, str], work_dir: Path) -> None:
    """`dbt build` of the whole project with the given profile variables, in its own process."""
    command = [
        str(DBT_EXECUTABLE),
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    command += ["--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("BILLING_", "DBT_ENV_SECRET_"))}
    result = subprocess.run(command, env={**clean, **environment}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Callable[..., Reference]:
    """For a corpus of spellings: the raw tables, and the canonical tables DuckDB builds from them."""
    built: dict[tuple, Reference] = {}

    def build(spellings: list[tuple[str, str]], checked: list[tuple] = CHECKED) -> Reference:
        key = (tuple(spellings), tuple(checked))
        if key not in built:
            work = tmp_path_factory.mktemp("duckdb_reference")
            create_raw_tables(work / "raw.duckdb")
            with duckdb.connect(str(work / "raw.duckdb")) as con:
                add_landing_rows(con, "usage_events", spellings_file(spellings, checked))
            tables = raw_tables(work / "raw.duckdb")
            dbt_build({"BILLING_DBT_TARGET": "duckdb", "BILLING_WAREHOUSE": str(work / "raw.duckdb")}, work)
            duckdb_warehouse = Warehouse(path=str(work / "raw.duckdb"))
            built[key] = tables, canonical_tables(duckdb_warehouse.query, True)
        return built[key]

    return build


def server_config(tmp_path: Path, warehouse_section: str):
    return parse_config(f'history_start: "2024-01-01"\nwarehouse: {warehouse_section}\n', base_dir=tmp_path)


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    yield from scratch_database(POSTGRES_ADMIN_URL, drop_suffix=" WITH (FORCE)")


def test_the_dbt_project_on_postgres_builds_the_same_canonical_tables(
    reference, scratch_postgres, tmp_path, monkeypatch
):
    monkeypatch.setenv("BILLING_TEST_RAW_URL", scratch_postgres)
    config = server_config(tmp_path, "{kind: postgres, url_env: BILLING_TEST_RAW_URL}")
    write = lambda tables: write_postgres(scratch_postgres, tables)  # noqa: E731
    assert_same_canonical_tables(reference(SPELLINGS), config, write, lambda rows: rows, tmp_path)


def test_the_dbt_project_on_snowflake_builds_the_same_canonical_tables(reference, tmp_path):
    """fakesnow runs Snowflake SQL by translating it to DuckDB (sqlglot). Its server returns a NULL
    TIMESTAMP_TZ as 1970-01-01 (the value is NULL in the engine): read back, that instant is NULL,
    which the reference never holds."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def null_timestamps(rows):
        return [tuple(None if value == epoch else value for value in row) for row in rows]

    with running_snowflake(tmp_path / "snowflake") as standin, pytest.MonkeyPatch.context() as env:
        env.setenv("BILLING_TEST_SNOWFLAKE_PASSWORD", STANDIN_PASSWORD)
        config = server_config(
            tmp_path,
            f"{{kind: snowflake, account: {standin.account}, user: {standin.user}, database: ANALYTICS,"
            f" password_env: BILLING_TEST_SNOWFLAKE_PASSWORD, host: {standin.host}, port: {standin.port},"
            f" protocol: {standin.protocol}}}",
        )
        write = lambda tables: write_snowflake(standin, "ANALYTICS", tables)  # noqa: E731
        assert_same_canonical_tables(reference(SPELLINGS), config, write, null_timestamps, tmp_path)


def test_the_dbt_project_on_bigquery_builds_the_same_canonical_tables(reference, tmp_path):
    """bqemulator runs BigQuery SQL on DuckDB; dbt-bigquery and the read helper reach it through
    `api_endpoint`. Properties that are not JSON are left out (NOT_JSON)."""
    with running_bigquery(tmp_path / "bigquery", project="billing-test") as emulator:
        config = server_config(
            tmp_path,
            f"{{kind: bigquery, project: billing-test, location: US, api_endpoint: '{emulator.api_endpoint}'}}",
        )
        write = lambda tables: write_bigquery(emulator.client(), emulator.project, tables)  # noqa: E731
        checked = [row for row in CHECKED if row not in NOT_JSON]
        assert_same_canonical_tables(reference(SPELLINGS, checked), config, write, lambda rows: rows, tmp_path)


def assert_same_canonical_tables(reference: Reference, config, write_raw, read_back, work_dir: Path) -> None:
    tables, on_duckdb = reference
    write_raw(tables)
    dbt_build(dbt_environment(config.warehouse), work_dir)
    warehouse = warehouse_for(config)
    on_server = canonical_tables(lambda sql: read_back(warehouse.query(sql)), payload_as_json=True)
    assert_same_tables(on_server, on_duckdb)
    assert all(on_server.values()), "every table has rows to compare"


# --- 2. the demo pipeline, into DuckDB and into PostgreSQL ------------------------------------

LAST = date(2026, 9, 30)
DAYS = 31  # the generator's shortest history
FIRST = LAST - timedelta(days=DAYS - 1)
ACCEPTED_AT = datetime(2026, 10, 1, 6, tzinfo=UTC)
WAREHOUSE_URL_ENV = "BILLING_TEST_WAREHOUSE_URL"


class Company:
    """The sandbox company (SQLite app database + landing zone) wired to a billing.yaml whose
    `warehouse:` section is given, with its own Dagster instance."""

    def __init__(self, root: Path, warehouse_section: str):
        root.mkdir()
        self.root = root
        (root / "billing.yaml").write_text(CONFIG.replace("warehouse: {path: warehouse.duckdb}", warehouse_section))
        self.expected = generate_company(
            root / "app_db.sqlite", root / "landing", end_date=LAST, days=DAYS, accounts=20,
            usage_events=3_000, landing_usage_events=1_000,
        )  # fmt: skip
        with sqlite3.connect(root / "app_db.sqlite") as app_db:
            app_db.execute(ITEMS_VIEW)
        accept_inbox(root / "landing", ACCEPTED_AT, TEST_EVENT_TIMES)
        self.instance = dg.DagsterInstance.ephemeral()
        self.defs = self.load()

    def load(self) -> dg.Definitions:
        os.environ["BILLING_CONFIG"] = str(self.root / "billing.yaml")
        os.environ.pop("BILLING_WAREHOUSE", None)  # a dbt step exports it for dbt: never this company's
        current_config.cache_clear()
        return build_definitions()

    @property
    def warehouse(self) -> Warehouse:
        return warehouse_for(load_config(self.root / "billing.yaml"))

    def sync(self, first: date, last: date) -> dg.ExecuteInProcessResult:
        self.load()  # this company's configuration is the process's current one while it runs
        result = run_days(self.defs, SYNC_JOB, first, last, self.instance)
        assert result.success, failure_messages(result)
        return result


@pytest.fixture(scope="module")
def warehouse_url():
    yield from scratch_database(POSTGRES_ADMIN_URL, drop_suffix=" WITH (FORCE)")


@pytest.fixture(scope="module")
def companies(tmp_path_factory, warehouse_url):
    """The same company migrated into DuckDB and into PostgreSQL."""
    saved = dict(os.environ)
    os.environ[WAREHOUSE_URL_ENV] = warehouse_url
    root = tmp_path_factory.mktemp("server_warehouses")
    duckdb_company = Company(root / "duckdb", "warehouse: {kind: duckdb, path: warehouse.duckdb}")
    postgres_company = Company(root / "postgres", f"warehouse: {{kind: postgres, url_env: {WAREHOUSE_URL_ENV}}}")
    for company in (duckdb_company, postgres_company):
        company.sync(FIRST, LAST)
    yield duckdb_company, postgres_company
    os.environ.clear()
    os.environ.update(saved)
    current_config.cache_clear()


def test_postgres_holds_the_same_canonical_tables_as_duckdb(companies):
    duckdb_company, postgres_company = companies
    assert postgres_company.warehouse.kind == "postgres"
    on_postgres = canonical_tables(postgres_company.warehouse.query)
    assert_same_tables(on_postgres, canonical_tables(duckdb_company.warehouse.query))
    assert all(on_postgres.values()), "every table has rows to compare"
    counts = postgres_company.expected["counts"]
    assert len(on_postgres["usage_events"]) == counts["usage_events"]
    assert len(on_postgres["customers"]) == counts["customers"]


def test_hashed_event_ids_are_the_same_bytes_on_postgres(companies):
    """Landing events sent without an id get md5 of their canonical text: equal ids on both
    warehouses mean equal decimal and timestamp texts."""
    hashed = "SELECT event_id FROM billing.usage_events WHERE length(event_id) = 32 AND event_id NOT LIKE '%-%'"
    ids = [set(company.warehouse.query(hashed)) for company in companies]
    assert ids[0] and ids[0] == ids[1]


def test_quarantine_reasons_are_the_same_on_postgres(companies):
    reasons = "SELECT location, reason FROM billing.quarantine"
    on_duckdb, on_postgres = (sorted(company.warehouse.query(reasons)) for company in companies)
    assert on_postgres == on_duckdb
    assert {reason.split(":")[0] for _, reason in on_postgres} == {
        code for code, rows in companies[1].expected["quarantine"].items() if rows
    }


def test_rerunning_a_window_on_postgres_changes_nothing(companies):
    _, postgres_company = companies
    before = canonical_fingerprints(postgres_company.warehouse.query)
    postgres_company.sync(date(2026, 9, 10), date(2026, 9, 12))
    assert canonical_fingerprints(postgres_company.warehouse.query) == before


def test_rebuilding_some_models_on_postgres_keeps_the_views_that_read_them(companies):
    """dbt replaces a relation by swapping in a new one and dropping the old one with CASCADE, which
    on PostgreSQL drops the views reading it (`billable_usage_daily` reads `customers`,
    `quarantine` reads the staging views); the step builds them again."""
    _, postgres_company = companies
    warehouse = postgres_company.warehouse
    views = {("billing", "billable_usage_daily"), ("billing", "quarantine")}
    assert views <= existing_relations(warehouse)
    postgres_company.load()
    result = postgres_company.defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["staging", "stg_app_db__customers"]), dg.AssetKey(["billing", "customers"])],
        instance=postgres_company.instance,
    )
    assert result.success, failure_messages(result)
    assert views <= existing_relations(warehouse)
    messages = [entry.user_message for entry in postgres_company.instance.all_logs(result.run_id)]
    assert "building again the views the build dropped: billable_usage_daily, quarantine" in messages


def test_the_demo_pipeline_into_bigquery_holds_the_same_canonical_tables(companies, tmp_path, monkeypatch):
    """The same migration with bqemulator as the warehouse. dlt's BigQuery destination has no
    endpoint setting, so here its client is handed the emulator's (`api_endpoint` serves dbt and
    the read helper as they are), and its load files go uncompressed (the emulator reads no gzip)."""
    from dlt.destinations.impl.bigquery import sql_client
    from google.cloud import bigquery

    duckdb_company, _ = companies
    with running_bigquery(tmp_path / "bigquery", project="billing-test") as emulator:
        client = functools.partial(bigquery.Client, client_options={"api_endpoint": emulator.api_endpoint})
        monkeypatch.setattr(sql_client.bigquery, "Client", client)
        monkeypatch.setenv("DATA_WRITER__DISABLE_COMPRESSION", "true")
        section = f"warehouse: {{kind: bigquery, project: {emulator.project}, api_endpoint: '{emulator.api_endpoint}'}}"
        bigquery_company = Company(tmp_path / "company", section)
        bigquery_company.sync(FIRST, LAST)
        on_bigquery = canonical_tables(bigquery_company.warehouse.query)
    assert_same_tables(on_bigquery, canonical_tables(duckdb_company.warehouse.query))
    assert all(on_bigquery.values()), "every table has rows to compare"
