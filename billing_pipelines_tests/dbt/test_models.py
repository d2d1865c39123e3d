"""The dbt project against a real DuckDB warehouse with hand-written raw tables.

The raw tables look as dlt leaves them (`_dlt_load_id`, `_dlt_id`, `raw_app_db._dlt_loads`; the
landing loader's `_file`/`_line`/`_received_at` and the `_event_date` every usage loader stores;
a Stripe price's tiers in dlt's nested table; `raw_app_db.usage_events` has no `_event_date`, as a table loaded before loaders stored it), with
one valid record per mapping rule and one bad record per reject reason. One `dbt build` is shared by most tests; tests that change the
warehouse work on a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner, dbtRunnerResult

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.lib.event_dates import event_dates

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

DAY_1 = {"min_date": "2024-01-01T00:00:00+00:00", "max_date": "2024-01-02T00:00:00+00:00"}
DAY_2 = {"min_date": "2024-01-02T00:00:00+00:00", "max_date": "2024-01-03T00:00:00+00:00"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- raw data: what dlt would have loaded -------------------------------------------------

LOADS = [  # raw_app_db._dlt_loads
    ("1704067200.000001", "2024-01-01 00:00:00+00"),
    ("1704153600.000002", "2024-01-02 00:00:00+00"),
]
LOAD_1, LOAD_2 = (load_id for load_id, _ in LOADS)
LOAD_WITHOUT_ROW = "1704240000.5"  # 2024-01-03 00:00:00.5 UTC, not (yet) in _dlt_loads

# raw_app_db: SQLite-style delivery (TEXT timestamps, INTEGER ids, REAL numbers) for most tables,
# Postgres-style (DATE, TIMESTAMPTZ, DECIMAL) for contract_items, which also lacks end_date: dlt
# creates no column while every value so far was NULL.
APP_DB = {
    "customers": (
        "account_id BIGINT, external_id VARCHAR, name VARCHAR, email VARCHAR, phone VARCHAR, "
        "line1 VARCHAR, line2 VARCHAR, city VARCHAR, state VARCHAR, postal_code VARCHAR, "
        "country VARCHAR, tax_id VARCHAR, currency VARCHAR, created_at VARCHAR, updated_at VARCHAR, "
        "deleted_at VARCHAR",
        [
            (
                1,
                " C1 ",
                "Acme",
                "ap@acme.test",
                None,
                "1 Road",
                None,
                "Berlin",
                None,
                "10115",
                "DE",
                "DE123",
                "EUR",
                "2023-01-01 00:00:00",
                "2024-01-01 10:00:00",
                None,
            ),
            (
                2,
                "C2",
                "Gone Ltd",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "GB",
                None,
                "GBP",
                "2023-02-01 00:00:00",
                "2024-01-01 10:00:00",
                "2024-01-05 00:00:00",
            ),
            (
                3,
                None,
                "No Key",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "EUR",
                None,
                "2024-01-01 10:00:00",
                None,
            ),
            (
                4,
                "C4",
                "Lower Case",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "usd",
                None,
                "2024-01-01 10:00:00",
                None,
            ),
            (
                5,
                "C3",
                "Old name (app)",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "EUR",
                "2022-06-01 00:00:00",
                "2024-01-01 00:00:00",
                None,
            ),
            (
                6,
                "C5",
                "App wins tie",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "USD",
                None,
                "2024-01-02 00:00:00",
                None,
            ),
        ],
    ),
    "contracts": (
        "subscription_id BIGINT, customer_external_id VARCHAR, name VARCHAR, status VARCHAR, "
        "currency VARCHAR, start_date VARCHAR, end_date VARCHAR, renewal_policy VARCHAR, "
        "updated_at VARCHAR, deleted_at VARCHAR",
        [
            (10, "C1", "Growth", "active", "EUR", "2024-01-01", None, "auto_renew", "2024-01-01 00:00:00", None),
            (11, "C1", "Trial", "trialing", "EUR", "2024-01-01", "2024-01-14", "none", "2024-01-01 00:00:00", None),
            (
                12,
                "C2",
                "Old",
                "canceled",
                "GBP",
                "2023-01-01",
                "2023-12-31",
                "none",
                "2024-01-01 00:00:00",
                "2024-01-05 00:00:00",
            ),
            (13, "C1", "Ended", "ended", "EUR", "2023-01-01", "2023-12-31", "none", "2024-01-01 00:00:00", None),
            (14, "C1", "Paused", "paused", "EUR", "2024-01-01", None, "auto_renew", "2024-01-01 00:00:00", None),
            (15, None, "Orphan", "active", "EUR", "2024-01-01", None, "none", "2024-01-01 00:00:00", None),
            (16, "C1", "Odd status", "suspended", "EUR", "2024-01-01", None, "none", "2024-01-01 00:00:00", None),
            (17, "C1", "Odd currency", "active", "EURO", "2024-01-01", None, "none", "2024-01-01 00:00:00", None),
            (18, "C1", "Odd start", "active", "EUR", "next monday", None, "none", "2024-01-01 00:00:00", None),
        ],
    ),
    "contract_items": (
        "item_id BIGINT, subscription_id BIGINT, product_id VARCHAR, product_name VARCHAR, "
        "pricing_model VARCHAR, unit_amount DECIMAL(12, 4), currency VARCHAR, billing_period VARCHAR, "
        "quantity DECIMAL(12, 4), metric VARCHAR, start_date DATE, updated_at TIMESTAMPTZ",  # no end_date yet
        [
            (
                100,
                10,
                "API",
                "API calls",
                "per_unit",
                Decimal("0.0100"),
                "EUR",
                "P1M",
                None,
                "api_calls",
                date(2024, 1, 1),
                utc("2024-01-01 00:00:00"),
            ),
            (
                101,
                10,
                "BASE",
                "Platform fee",
                "flat_fee",
                Decimal("49"),
                "EUR",
                "P1M",
                Decimal("1"),
                None,
                date(2024, 1, 1),
                utc("2024-01-01 00:00:00"),
            ),
            (
                102,
                None,
                "LOST",
                "No contract",
                "flat_fee",
                Decimal("1"),
                "EUR",
                "P1M",
                None,
                None,
                date(2024, 1, 1),
                utc("2024-01-01 00:00:00"),
            ),
            (
                103,
                10,
                "FREE",
                "Freemium",
                "freemium",
                Decimal("0"),
                "EUR",
                "P1M",
                None,
                None,
                date(2024, 1, 1),
                utc("2024-01-01 00:00:00"),
            ),
        ],
    ),
    "usage_events": (
        "event_id BIGINT, customer_external_id VARCHAR, metric VARCHAR, quantity DOUBLE, "
        "event_timestamp VARCHAR, properties VARCHAR",
        [
            (1, "C1", "api_calls", 10.0, "2024-01-01 10:00:00", '{"region":"eu"}'),
            (2, "C1", "api_calls", 5.0, "2024-01-01 23:59:59", None),
            (3, "C1", "storage_gb", 2.5, "2024-01-02 00:00:00", None),
            (4, None, "api_calls", 1.0, "2024-01-01 11:00:00", None),
            (5, "C1", None, 1.0, "2024-01-01 11:00:00", None),
            (6, "C1", "api_calls", 1.0, "yesterday", None),
            (7, "C404", "api_calls", 3.0, "2024-01-01 12:00:00", None),
            (8, None, None, None, None, None),
        ],
    ),
}
APP_DB_LOAD = {"usage_events": {3: LOAD_2, 7: LOAD_WITHOUT_ROW}}  # default LOAD_1


@dataclass(frozen=True)
class Unsplittable:
    """A line the CSV reader could not split: the loader keeps it with `_parse_error`/`_raw_line`."""

    parse_error: str
    raw_line: str


@dataclass(frozen=True)
class LandingFile:
    name: str
    received_at: str
    rows: list[tuple | Unsplittable]


def customer_row(external_id, name, currency=None, updated_at=None, tax_id=None):
    return (external_id, name, None, None, None, None, None, None, None, None, tax_id, currency, updated_at)


LANDING = {
    "customers": [
        LandingFile(
            "customers.csv",
            "2024-01-03 08:00:00+00",
            [
                customer_row("C3", "New name (landing)", "EUR", "2024-01-02 00:00:00"),
                customer_row("C5", "Landing loses tie", "USD", "2024-01-02 00:00:00"),
                customer_row(None, "No key"),
                customer_row("C6", "Bad currency", "XYZ"),
                customer_row("C7", "Landing only", "USD", "2024-01-01T09:00:00Z"),
                Unsplittable("invalid encoding: line is not valid UTF-8", "C8,Caf\ufffd,,,,,,,,,,EUR,"),
            ],
        ),
    ],
    "contracts": [
        LandingFile(
            "contracts.csv",
            "2024-01-03 08:00:00+00",
            [
                ("L-1", "C7", "First name", "active", "USD", "2024-02-01", None, "none", "2024-01-01 00:00:00"),
                ("L-2", "C7", "App vocabulary", "trialing", "USD", "2024-02-01", None, "none", None),
                ("L-1", "C7", "Renamed", "active", "USD", "2024-02-01", None, "auto_renew", "2024-02-01 00:00:00"),
            ],
        ),
    ],
    "contract_items": [
        LandingFile(
            "items.csv",
            "2024-01-03 08:00:00+00",
            [
                ("L-1", "TIER", "Tiered seats", "tiered", None, "USD", "P1Y", "5", None, "2024-02-01", None),
                (None, "X", "No contract", "flat_fee", "1", "USD", "P1M", None, None, None, None),
                ("L-1", "TEN", "Bad amount", "per_unit", "ten", "USD", "P1M", None, None, None, None),
                ("L-1", "LOW", "Bad currency", "per_unit", "1.5", "usd", "P1M", None, None, None, None),
            ],
        ),
    ],
    "usage_events": [
        LandingFile(
            "usage_a.csv",
            "2024-01-02 06:00:00+00",
            [
                ("L-E1", "C7", "api_calls", "4", "2024-01-01T08:00:00Z", None),
                ("DUP", "C7", "api_calls", "1", "2024-01-01T09:30:00Z", None),
                (None, "C7", "api_calls", "2", "2024-01-01 09:00:00", '{"k":1}'),
                ("L-E2", "C7", "api_calls", "lots", "2024-01-01T10:00:00Z", None),
                ("L-E3", "C7", "api_calls", "", None, None),
                Unsplittable(
                    "wrong column count: expected 6 columns, found 7", "E9,C1,api_calls,1,2024-01-01T00:00:00Z,{},extra"
                ),
            ],
        ),
        LandingFile(
            "usage_b.csv",
            "2024-01-03 06:00:00+00",
            [
                ("DUP", "C7", "api_calls", "100", "2024-01-01T09:30:00Z", None),  # later copy: loses
                (None, "C7", "api_calls", "2.0", "2024-01-01T09:00:00+00:00", '{"k":1}'),  # same event, no id
                ("1", "C1", "api_calls", "10", "2024-01-01 10:00:00", None),  # app event 1, delivered later
            ],
        ),
    ],
}


def stripe_item(item_id, quantity, holder, price_id, product, cents, billing_scheme, tiers_mode, usage_type):
    """A raw_stripe.subscription_items row of sub_T1, monthly in EUR, whose price (`holder`
    "price") or, on an older account, legacy plan ("plan") has these facts."""
    facts = (price_id, product, cents, "eur", billing_scheme, tiers_mode, "month", 1, usage_type)
    price, plan = (facts, (None,) * len(facts)) if holder == "price" else ((None,) * len(facts), facts)
    return (item_id, "sub_T1", quantity, *price, *plan)


# raw_stripe: as the Stripe source loads it (Unix seconds, amounts in cents as integers and as
# decimal text), the tier tables of tiered prices as dlt's nested table of the price's row
# (`_dlt_parent_id`, `_dlt_list_idx`; rows stored out of list order); a legacy plan is the price
# it mirrors, by id. No products table has been loaded yet.
RAW_STRIPE = {
    "customers": (
        "id VARCHAR, billing_external_id VARCHAR, name VARCHAR, currency VARCHAR, created BIGINT",
        [("cus_T1", "C1", "Acme (Stripe)", "eur", 1704067200)],
    ),
    "subscriptions": (
        "id VARCHAR, customer VARCHAR, status VARCHAR, currency VARCHAR, start_date BIGINT, cancel_at BIGINT,"
        " ended_at BIGINT, created BIGINT",
        [("sub_T1", "cus_T1", "active", "eur", 1704067200, None, None, 1704067200)],
    ),
    "subscription_items": (
        "id VARCHAR, subscription VARCHAR, quantity BIGINT, price__id VARCHAR, price__product VARCHAR,"
        " price__unit_amount_decimal VARCHAR, price__currency VARCHAR, price__billing_scheme VARCHAR,"
        " price__tiers_mode VARCHAR, price__recurring__interval VARCHAR, price__recurring__interval_count BIGINT,"
        " price__recurring__usage_type VARCHAR, plan__id VARCHAR, plan__product VARCHAR, plan__amount_decimal VARCHAR,"
        " plan__currency VARCHAR, plan__billing_scheme VARCHAR, plan__tiers_mode VARCHAR, plan__interval VARCHAR,"
        " plan__interval_count BIGINT, plan__usage_type VARCHAR",
        [
            stripe_item("si_T1", None, "price", "price_CALLS", "prod_CALLS", None, "tiered", "graduated", "metered"),
            stripe_item("si_T2", 3, "plan", "price_SEATS", "prod_SEATS", None, "tiered", "volume", "licensed"),
            stripe_item("si_T3", 1, "price", "price_BASE", "prod_BASE", "4900", "per_unit", None, "licensed"),
        ],
    ),
    "prices": (
        "id VARCHAR, _dlt_id VARCHAR",
        [("price_CALLS", "price-row-1"), ("price_SEATS", "price-row-2"), ("price_BASE", "price-row-3")],
    ),
    "prices__tiers": (
        "up_to BIGINT, unit_amount BIGINT, unit_amount_decimal VARCHAR, flat_amount BIGINT,"
        " flat_amount_decimal VARCHAR, _dlt_parent_id VARCHAR, _dlt_list_idx BIGINT",
        [
            (None, 15, "15", None, None, "price-row-1", 1),
            (1000, None, "0.2", 2500, "2500", "price-row-1", 0),
            (None, 800, "800", None, None, "price-row-2", 1),
            (5, 1000, "1000", None, None, "price-row-2", 0),
        ],
    ),
}
STRIPE_TIERS = {  # the canonical tiers of RAW_STRIPE's items, in the currency's unit
    "prod_CALLS": [
        {"up_to": 1000, "unit_amount": "0.002", "flat_amount": "25"},
        {"up_to": None, "unit_amount": "0.15", "flat_amount": None},
    ],
    "prod_SEATS": [
        {"up_to": 5, "unit_amount": "10", "flat_amount": None},
        {"up_to": None, "unit_amount": "8", "flat_amount": None},
    ],
}

REJECTED_FILES = [  # raw_landing.rejected_files: dataset, _file, reason, payload, _received_at
    (
        "customers",
        "weird.csv",
        "unknown column set: expected [external_id, ...], found [foo, bar]",
        "foo,bar\n1,2\n",
        "2024-01-03 07:30:00+00",
    ),
]


def create_raw_tables(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_app_db; create schema raw_landing")
        con.execute(
            "create table raw_app_db._dlt_loads (load_id varchar, schema_name varchar, status bigint,"
            " inserted_at timestamptz, schema_version_hash varchar)"
        )
        con.executemany("insert into raw_app_db._dlt_loads values (?, 'app_db', 0, ?, 'hash')", LOADS)
        for table, (columns, rows) in APP_DB.items():
            con.execute(f"create table raw_app_db.{table} ({columns}, _dlt_load_id varchar, _dlt_id varchar)")
            loads = APP_DB_LOAD.get(table, {})
            con.executemany(
                f"insert into raw_app_db.{table} values ({', '.join('?' * (len(rows[0]) + 2))})",
                [(*row, loads.get(row[0], LOAD_1), f"{table}-{row[0]}") for row in rows],
            )
        for table, files in LANDING.items():
            create_landing_table(con, table)
            for file in files:
                add_landing_rows(con, table, file)
        con.execute("create schema raw_stripe")
        for table, (columns, rows) in RAW_STRIPE.items():
            root = "__" not in table  # a nested table's rows carry no load id of their own
            con.execute(f"create table raw_stripe.{table} ({columns}{', _dlt_load_id varchar' if root else ''})")
            extra = (LOAD_1,) if root else ()
            con.executemany(
                f"insert into raw_stripe.{table} values ({', '.join('?' * (len(rows[0]) + len(extra)))})",
                [(*row, *extra) for row in rows],
            )
        con.execute(
            "create table raw_landing.rejected_files (dataset varchar, _file varchar, _file_digest varchar,"
            " reason varchar, payload varchar, _received_at timestamptz, _dlt_load_id varchar, _dlt_id varchar)"
        )
        con.executemany(
            "insert into raw_landing.rejected_files values (?, ?, 'digest', ?, ?, ?, 'landing-load', ?)",
            [(*rejected, f"rejected-{n}") for n, rejected in enumerate(REJECTED_FILES)],
        )


def create_landing_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """`raw_landing.<table>` as the landing loader creates it: every column text, then the
    file, line and load columns (and `_event_date` for usage)."""
    columns = ", ".join(f"{name} varchar" for name in LANDING_COLUMNS[table])
    event_date = ", _event_date date" if table == "usage_events" else ""
    con.execute(
        f"create table raw_landing.{table} ({columns}, _file varchar, _file_digest varchar,"
        " _line bigint, _received_at timestamptz, _parse_error varchar, _raw_line varchar,"
        f" _dlt_load_id varchar, _dlt_id varchar{event_date})"
    )


def add_landing_rows(con: duckdb.DuckDBPyConnection, table: str, file: LandingFile) -> None:
    width = len(LANDING_COLUMNS[table])
    digest = hashlib.sha256(file.name.encode()).hexdigest()[:16]
    rows = []
    for line, row in enumerate(file.rows, start=2):
        if isinstance(row, Unsplittable):
            values, parse_error, raw_line = (None,) * width, row.parse_error, row.raw_line
        else:
            values, parse_error, raw_line = row, None, None
        rows.append(
            (
                *values,
                file.name,
                digest,
                line,
                file.received_at,
                parse_error,
                raw_line,
                "landing-load",
                f"{file.name}:{line}",
            )
        )
    if table == "usage_events":  # the day the loader stores, by its own rule
        timestamps = [row[LANDING_COLUMNS[table].index("event_timestamp")] for row in rows]
        rows = [(*row, day) for row, day in zip(rows, event_dates(pa.array(timestamps, pa.string())).to_pylist())]
    con.executemany(f"insert into raw_landing.{table} values ({', '.join('?' * len(rows[0]))})", rows)


# --- running dbt ---------------------------------------------------------------------------


@dataclass
class Warehouse:
    path: Path
    target_dir: Path

    def dbt(self, *args: str, vars: dict | None = None) -> dbtRunnerResult:
        command = [
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(self.target_dir / "target"),
            "--log-path",
            str(self.target_dir / "logs"),
            "--quiet",
        ]
        if vars is not None:
            command += ["--vars", json.dumps(vars)]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BILLING_WAREHOUSE", str(self.path))
            env.setenv("DO_NOT_TRACK", "1")
            try:
                return dbtRunner().invoke(command)
            finally:
                release_dbt_duckdb()

    def rows(self, sql: str, *params) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params).fetchall()

    def execute(self, sql: str, *params) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql, params)

    def copy(self, directory: Path) -> Warehouse:
        directory.mkdir()
        shutil.copy(self.path, directory / "warehouse.duckdb")
        return Warehouse(directory / "warehouse.duckdb", self.target_dir)


def release_dbt_duckdb() -> None:
    """dbt-duckdb keeps its database open in the process after an invocation (a class-level
    environment); close it so the test can open the file itself with its own settings."""
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()


def assert_ok(result: dbtRunnerResult) -> dbtRunnerResult:
    assert result.exception is None, result.exception
    failed = [(r.node.unique_id, r.status, r.message) for r in result.result if r.status in ("error", "fail")]
    assert result.success and not failed, failed
    return result


@pytest.fixture(scope="module")
def dbt_dirs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_dirs) -> Iterator[tuple[Warehouse, dbtRunnerResult]]:
    warehouse = Warehouse(tmp_path_factory.mktemp("built") / "warehouse.duckdb", dbt_dirs)
    create_raw_tables(warehouse.path)
    yield warehouse, assert_ok(warehouse.dbt("build"))


@pytest.fixture(scope="module")
def warehouse(built) -> Warehouse:
    return built[0]


@pytest.fixture
def scratch(warehouse, tmp_path) -> Warehouse:
    """A private copy of the built warehouse, for tests that change it."""
    return warehouse.copy(tmp_path / "copy")


# --- canonical models ----------------------------------------------------------------------


def test_customers_resolve_identity_and_survivorship(warehouse):
    rows = warehouse.rows(
        "select customer_id, name, currency, tax_ids, app_db_account_id, stripe_customer_id,"
        " hubspot_company_id, created_at, is_deleted, source_system from billing.customers order by 1"
    )
    assert rows == [
        # the app's record (dated) wins over Stripe's (undated), which adds its Stripe id
        ("C1", "Acme", "EUR", '["DE123"]', "1", "cus_T1", None, utc("2023-01-01 00:00"), False, "app_db"),
        ("C2", "Gone Ltd", "GBP", "[]", "2", None, None, utc("2023-02-01 00:00"), True, "app_db"),
        # newer landing record wins, the app's account id and creation date are kept
        ("C3", "New name (landing)", "EUR", "[]", "5", None, None, utc("2022-06-01 00:00"), False, "landing"),
        # same updated_at in both sources: the app database wins
        ("C5", "App wins tie", "USD", "[]", "6", None, None, None, False, "app_db"),
        ("C7", "Landing only", "USD", "[]", None, None, None, None, False, "landing"),
    ]


def test_contracts_map_status_and_namespace_app_ids(warehouse):
    rows = warehouse.rows(
        "select contract_id, customer_id, name, status, currency, start_date, end_date, renewal_policy,"
        " app_db_subscription_id, is_deleted, source_system from billing.contracts order by 1"
    )
    assert rows == [
        ("L-1", "C7", "Renamed", "active", "USD", date(2024, 2, 1), None, "auto_renew", None, False, "landing"),
        ("app_db-sub-10", "C1", "Growth", "active", "EUR", date(2024, 1, 1), None, "auto_renew", "10", False, "app_db"),
        (
            "app_db-sub-11",
            "C1",
            "Trial",
            "draft",
            "EUR",
            date(2024, 1, 1),
            date(2024, 1, 14),
            "none",
            "11",
            False,
            "app_db",
        ),
        (
            "app_db-sub-12",
            "C2",
            "Old",
            "expired",
            "GBP",
            date(2023, 1, 1),
            date(2023, 12, 31),
            "none",
            "12",
            True,
            "app_db",
        ),
        (
            "app_db-sub-13",
            "C1",
            "Ended",
            "expired",
            "EUR",
            date(2023, 1, 1),
            date(2023, 12, 31),
            "none",
            "13",
            False,
            "app_db",
        ),
        ("app_db-sub-14", "C1", "Paused", "paused", "EUR", date(2024, 1, 1), None, "auto_renew", "14", False, "app_db"),
        ("sub_T1", "C1", None, "active", "EUR", date(2024, 1, 1), None, "auto_renew", None, False, "stripe"),
    ]


def test_contract_items_from_typed_and_text_sources(warehouse):
    rows = warehouse.rows(
        "select contract_id, product_id, pricing_model, unit_amount, currency, billing_period, quantity, metric,"
        " start_date, end_date from billing.contract_items order by 1, 2"
    )
    assert rows == [
        ("L-1", "TIER", "tiered", None, "USD", "P1Y", Decimal("5"), None, date(2024, 2, 1), None),
        ("app_db-sub-10", "API", "per_unit", Decimal("0.01"), "EUR", "P1M", None, "api_calls", date(2024, 1, 1), None),
        ("app_db-sub-10", "BASE", "flat_fee", Decimal("49"), "EUR", "P1M", Decimal("1"), None, date(2024, 1, 1), None),
        ("sub_T1", "prod_BASE", "flat_fee", Decimal("49"), "EUR", "P1M", Decimal("1"), None, date(2024, 1, 1), None),
        # tiered prices: the first tier's unit amount (their tiers: next test)
        ("sub_T1", "prod_CALLS", "tiered", Decimal("0.002"), "EUR", "P1M", None, None, date(2024, 1, 1), None),
        ("sub_T1", "prod_SEATS", "volume", Decimal("10"), "EUR", "P1M", Decimal("3"), None, date(2024, 1, 1), None),
    ]


def test_stripe_tier_tables_become_tiers_in_currency_units(warehouse):
    """A tiered price's (or legacy plan's) tier table, in list order, as a JSON array text written
    as json.dumps writes it. Every other item has none: Stripe's plain price, and the landing
    zone's tiered item (one rate, its unit_amount)."""
    rows = dict(warehouse.rows("select product_id, tiers from billing.contract_items where tiers is not null"))
    assert rows == {product: json.dumps(tiers) for product, tiers in STRIPE_TIERS.items()}


def hashed_event_id(customer_id, metric, quantity, timestamp, properties) -> str:
    return hashlib.md5("|".join([customer_id, metric, quantity, timestamp, properties]).encode()).hexdigest()


NO_ID_EVENT = hashed_event_id("C7", "api_calls", "2.000000000", "2024-01-01T09:00:00.000000Z", '{"k":1}')


def test_usage_events_deduplicated_first_delivery_wins(warehouse):
    rows = warehouse.rows(
        "select event_id, customer_id, metric, quantity, event_timestamp, properties, source_system, ingested_at"
        " from billing.usage_events order by event_timestamp, event_id"
    )
    assert rows == [
        ("L-E1", "C7", "api_calls", Decimal("4"), utc("2024-01-01 08:00"), None, "landing", utc("2024-01-02 06:00")),
        # the same row without an id in two files: one event, hashed id, first file wins
        (
            NO_ID_EVENT,
            "C7",
            "api_calls",
            Decimal("2"),
            utc("2024-01-01 09:00"),
            '{"k":1}',
            "landing",
            utc("2024-01-02 06:00"),
        ),
        ("DUP", "C7", "api_calls", Decimal("1"), utc("2024-01-01 09:30"), None, "landing", utc("2024-01-02 06:00")),
        # app event 1 was also uploaded later: the first ingested copy (dlt load time) wins
        (
            "1",
            "C1",
            "api_calls",
            Decimal("10"),
            utc("2024-01-01 10:00"),
            '{"region":"eu"}',
            "app_db",
            utc("2024-01-01 00:00"),
        ),
        # unknown customer: kept; ingested_at from the load id when _dlt_loads has no row
        ("7", "C404", "api_calls", Decimal("3"), utc("2024-01-01 12:00"), None, "app_db", utc("2024-01-03 00:00:00.5")),
        ("2", "C1", "api_calls", Decimal("5"), utc("2024-01-01 23:59:59"), None, "app_db", utc("2024-01-01 00:00")),
        ("3", "C1", "storage_gb", Decimal("2.5"), utc("2024-01-02 00:00"), None, "app_db", utc("2024-01-02 00:00")),
    ]


def test_hashed_event_ids_are_deterministic(warehouse):
    staged = warehouse.rows(
        "select event_id from staging.stg_landing__usage_events where location in ('usage_a.csv:4', 'usage_b.csv:3')"
    )
    assert staged == [(NO_ID_EVENT,), (NO_ID_EVENT,)]


def test_billable_usage_daily_only_for_known_customers(warehouse):
    rows = warehouse.rows("select * from billing.billable_usage_daily order by 1, 2, 3")
    assert rows == [
        (date(2024, 1, 1), "C1", "api_calls", Decimal("15"), 2, Decimal("10")),
        (date(2024, 1, 1), "C7", "api_calls", Decimal("7"), 3, Decimal("4")),
        (date(2024, 1, 2), "C1", "storage_gb", Decimal("2.5"), 1, Decimal("2.5")),
    ]


# --- quarantine ----------------------------------------------------------------------------

CONFLICT = "conflicting duplicate: event_id {} is already counted with other values (from {})"
EXPECTED_QUARANTINE = [
    ("app_db", "contract_items", "contract_items item_id=102", "missing contract_id"),
    ("app_db", "contract_items", "contract_items item_id=103", "invalid pricing_model: 'freemium'"),
    ("app_db", "contracts", "contracts subscription_id=15", "missing customer_id"),
    ("app_db", "contracts", "contracts subscription_id=16", "invalid status: 'suspended'"),
    ("app_db", "contracts", "contracts subscription_id=17", "invalid currency: 'EURO'"),
    ("app_db", "contracts", "contracts subscription_id=18", "unparsable start_date: 'next monday'"),
    ("app_db", "customers", "customers account_id=3", "missing external_id"),
    ("app_db", "customers", "customers account_id=4", "invalid currency: 'usd'"),
    ("app_db", "usage_events", "usage_events event_id=4", "missing customer_id"),
    ("app_db", "usage_events", "usage_events event_id=5", "missing metric"),
    ("app_db", "usage_events", "usage_events event_id=6", "unparsable event_timestamp: 'yesterday'"),
    ("app_db", "usage_events", "usage_events event_id=8", "missing customer_id"),  # first failing check wins
    ("landing", "contract_items", "items.csv:3", "missing contract_id"),
    ("landing", "contract_items", "items.csv:4", "unparsable unit_amount: 'ten'"),
    ("landing", "contract_items", "items.csv:5", "invalid currency: 'usd'"),
    ("landing", "contracts", "contracts.csv:3", "invalid status: 'trialing'"),
    ("landing", "customers", "customers.csv:4", "missing external_id"),
    ("landing", "customers", "customers.csv:5", "invalid currency: 'XYZ'"),
    ("landing", "customers", "customers.csv:7", "invalid encoding: line is not valid UTF-8"),
    ("landing", "customers", "weird.csv", "unknown column set: expected [external_id, ...], found [foo, bar]"),
    ("landing", "usage_events", "usage_a.csv:5", "unparsable quantity: 'lots'"),
    ("landing", "usage_events", "usage_a.csv:6", "missing event_timestamp"),
    ("landing", "usage_events", "usage_a.csv:7", "wrong column count: expected 6 columns, found 7"),
    # later copies of a counted event_id with other values: kept visible, never counted
    ("landing", "usage_events", "usage_b.csv:2", CONFLICT.format("DUP", "landing")),  # quantity 100, not 1
    ("landing", "usage_events", "usage_b.csv:4", CONFLICT.format("1", "app_db")),  # without the app's properties
]


def test_quarantine_holds_every_reject_with_reason_and_location(warehouse):
    rows = warehouse.rows("select source_system, dataset, location, reason from billing.quarantine order by all")
    assert rows == EXPECTED_QUARANTINE


def test_quarantine_keeps_the_delivered_record_and_its_arrival_time(warehouse):
    def entry(location):
        [(payload, quarantined_at)] = warehouse.rows(
            "select payload, quarantined_at from billing.quarantine where location = ?", location
        )
        return payload, quarantined_at

    payload, quarantined_at = entry("usage_a.csv:5")
    assert json.loads(payload) == {
        "event_id": "L-E2",
        "customer_external_id": "C7",
        "metric": "api_calls",
        "quantity": "lots",
        "event_timestamp": "2024-01-01T10:00:00Z",
        "properties": None,
    }
    assert quarantined_at == utc("2024-01-02 06:00")

    payload, quarantined_at = entry("contracts subscription_id=16")
    assert json.loads(payload)["subscription_id"] == 16  # app values keep their delivered type
    assert "_dlt_load_id" not in json.loads(payload)
    assert quarantined_at == utc("2024-01-01 00:00")

    # a line the reader could not split: its raw text; a file rejected whole: its beginning
    assert entry("usage_a.csv:7") == ("E9,C1,api_calls,1,2024-01-01T00:00:00Z,{},extra", utc("2024-01-02 06:00"))
    assert entry("weird.csv") == ("foo,bar\n1,2\n", utc("2024-01-03 07:30"))


# --- dbt tests -----------------------------------------------------------------------------


def unknown_customer_check(result: dbtRunnerResult):
    [check] = [
        r
        for r in result.result
        if r.node.unique_id.startswith("test.billing_pipelines.relationships_usage_events_customer_id")
    ]
    return check.status, check.failures


def test_usage_of_unknown_customers_only_warns(built):
    _, result = built
    assert unknown_customer_check(result) == ("warn", 1)


def test_first_usage_partition_on_a_fresh_warehouse_warns_before_customers_exist(tmp_path, dbt_dirs):
    """Dagster builds the partitioned usage models (and their checks) before billing.customers."""
    fresh = Warehouse(tmp_path / "fresh.duckdb", dbt_dirs)
    create_raw_tables(fresh.path)
    result = assert_ok(fresh.dbt("build", "--select", "tag:partitioned", vars=DAY_1))
    assert unknown_customer_check(result) == ("warn", 6)  # no customer is known yet


# --- partition windows ---------------------------------------------------------------------

USAGE = "select * from billing.usage_events order by event_id"


def event_ids(warehouse: Warehouse) -> set[str]:
    return {event_id for (event_id,) in warehouse.rows("select event_id from billing.usage_events")}


def test_rerunning_a_window_leaves_identical_rows(scratch):
    before = scratch.rows(USAGE)
    for _ in range(2):
        assert_ok(scratch.dbt("run", "--select", "usage_events", vars=DAY_1))
        assert scratch.rows(USAGE) == before


def test_a_window_replaces_only_itself(scratch):
    late = LandingFile(
        "late.csv",
        "2024-01-04 00:00:00+00",
        [
            ("LATE-1", "C1", "api_calls", "1", "2024-01-01T15:00:00Z", None),
            ("LATE-2", "C1", "api_calls", "1", "2024-01-02T15:00:00Z", None),
        ],
    )
    with duckdb.connect(str(scratch.path)) as con:
        add_landing_rows(con, "usage_events", late)
        con.execute("delete from raw_app_db.usage_events where event_id = 2")  # gone from the source
    day_1 = "select * from billing.usage_events where event_timestamp < '2024-01-02' order by event_id"
    day_1_before = scratch.rows(day_1)

    assert_ok(scratch.dbt("run", "--select", "usage_events", vars=DAY_2))
    assert scratch.rows(day_1) == day_1_before
    assert event_ids(scratch) == {"1", "2", "3", "7", "DUP", "L-E1", "LATE-2", NO_ID_EVENT}

    assert_ok(scratch.dbt("run", "--select", "usage_events", vars=DAY_1))
    assert event_ids(scratch) == {"1", "3", "7", "DUP", "L-E1", "LATE-1", "LATE-2", NO_ID_EVENT}


def test_an_event_resent_into_another_window_counts_once(scratch):
    """L-E1 was counted on day 1; a later file re-sends it dated day 2. Day 2's run finds it
    counted in another window and leaves it there; re-running day 1 keeps it on day 1."""
    resent = LandingFile(
        "resent.csv", "2024-01-04 00:00:00+00", [("L-E1", "C7", "api_calls", "4", "2024-01-02T08:00:00Z", None)]
    )
    with duckdb.connect(str(scratch.path)) as con:
        add_landing_rows(con, "usage_events", resent)
    copies = "select event_timestamp, source_system from billing.usage_events where event_id = 'L-E1'"
    for window in (DAY_2, DAY_1, DAY_2):
        assert_ok(scratch.dbt("build", "--select", "usage_events", vars=window))
        assert scratch.rows(copies) == [(utc("2024-01-01 08:00"), "landing")]


def test_usage_quarantine_and_daily_totals_are_rebuilt_per_window(scratch):
    """A window's run replaces that window's usage rejects and totals and leaves the others;
    rejects with no readable day are kept by every window's run."""
    late = LandingFile(
        "late.csv",
        "2024-01-04 00:00:00+00",
        [
            ("LATE-1", "C1", "api_calls", "7", "2024-01-02T15:00:00Z", None),
            ("LATE-2", "C1", "", "1", "2024-01-02T16:00:00Z", None),
        ],
    )
    with duckdb.connect(str(scratch.path)) as con:
        add_landing_rows(con, "usage_events", late)
    usage_models = ["usage_events", "usage_events_quarantine", "daily_usage_totals"]
    quarantined = "select location, reason from billing.quarantine where dataset = 'usage_events' order by all"
    totals = "select usage_date, customer_id, metric, total_quantity, event_count from billing.daily_usage_totals order by all"
    quarantine_before, totals_before = scratch.rows(quarantined), scratch.rows(totals)

    assert_ok(scratch.dbt("run", "--select", *usage_models, vars=DAY_1))
    assert scratch.rows(quarantined) == quarantine_before  # day 2's new reject waits for day 2's run
    assert scratch.rows(totals) == totals_before

    assert_ok(scratch.dbt("run", "--select", *usage_models, vars=DAY_2))
    assert scratch.rows(quarantined) == sorted([*quarantine_before, ("late.csv:3", "missing metric")])
    assert scratch.rows(totals) == [
        *[row for row in totals_before if row[0] == date(2024, 1, 1)],
        (date(2024, 1, 2), "C1", "api_calls", Decimal("7"), 1),
        (date(2024, 1, 2), "C1", "storage_gb", Decimal("2.5"), 1),
    ]
    undated = [
        row for row in quarantine_before if row[1].startswith(("unparsable", "missing")) and "event_timestamp" in row[1]
    ]
    assert len(undated) == 2 and set(undated) <= set(scratch.rows(quarantined))


def test_unknown_customer_usage_becomes_billable_when_the_customer_arrives(scratch):
    billable_c404 = "select total_quantity from billing.billable_usage_daily where customer_id = 'C404'"
    assert scratch.rows(billable_c404) == []
    with duckdb.connect(str(scratch.path)) as con:
        add_landing_rows(
            con,
            "customers",
            LandingFile(
                "new.csv",
                "2024-01-05 00:00:00+00",
                [
                    customer_row("C404", "Late customer", "EUR", "2024-01-05 00:00:00"),
                ],
            ),
        )
    assert_ok(scratch.dbt("run", "--select", "customers", "billable_usage_daily"))
    assert scratch.rows(billable_c404) == [(Decimal("3"),)]


# --- project-level behaviour ---------------------------------------------------------------


def test_build_on_an_empty_warehouse(tmp_path, dbt_dirs):
    empty = Warehouse(tmp_path / "empty.duckdb", dbt_dirs)
    assert_ok(empty.dbt("build"))
    for table in ["customers", "contracts", "contract_items", "usage_events", "quarantine", "billable_usage_daily"]:
        assert empty.rows(f"select count(*) from billing.{table}") == [(0,)]


def test_parse_needs_no_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    result = dbtRunner().invoke(
        [
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--quiet",
        ]
    )
    assert result.success, result.exception
    sources = {node.unique_id for node in result.result.sources.values()}
    staging = result.result.nodes["model.billing_pipelines.stg_landing__contracts"]
    assert staging.depends_on.nodes == ["source.billing_pipelines.raw_landing.contracts"]
    assert "source.billing_pipelines.raw_landing.rejected_files" in sources
