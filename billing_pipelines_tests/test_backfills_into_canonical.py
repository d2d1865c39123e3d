"""A partitioned usage backfill from every kind of pulled source into the canonical
`billing.usage_events`, through the raw loads and the dbt step, as one run over a partition range
(how the UI launches a single-run backfill).

Sources: PostgreSQL and MySQL (the real servers, each in turn as the `sql` source `app_db`),
Snowflake (fakesnow, `usage_lake`) and BigQuery (bqemulator, `product_analytics`); the two
warehouses join the PostgreSQL configuration only, to keep the cost down. Each source holds the same kind of
metering table: events over a week, on and just beside the window's bounds, quantities with nine
decimals (one too wide for a float), several customers and metrics. Only `usage_events` is
configured: no customers are loaded, and usage of a customer not (yet) known stays in
`billing.usage_events` by design.

Per source, the canonical table's count and exact decimal sum per customer × metric × UTC day
equal the source database's own aggregate over the window; re-running the window, or one day
inside it, leaves the canonical table as it was.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
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
from billing_pipelines.defs.sync.jobs import USAGE_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.sandbox.bigquery_standin import USAGE_COLUMNS
from billing_pipelines.sandbox.snowflake_standin import STANDIN_PASSWORD
from billing_pipelines_tests.conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, scratch_database
from billing_pipelines_tests.environment import environment_restored

FIRST, LAST = date(2026, 9, 1), date(2026, 9, 3)
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 4, tzinfo=UTC)
ONE_DAY = date(2026, 9, 2)
TICK = timedelta(microseconds=1)
EDGES = (START - TICK, START, END - TICK, END)
"""The last instant before the window, its first, its last, and the first after it."""
WIDE_QUANTITY = Decimal("98765432109.123456789")
"""20 significant digits: a float (or a DOUBLE sum) would round it."""
EVENTS_PER_SOURCE = 240

APP_DB_URL_ENV = "BACKFILL_TEST_APP_DB_URL"
USAGE_LAKE_PASSWORD_ENV = "BACKFILL_TEST_USAGE_LAKE_PASSWORD"
SNOWFLAKE_DATABASE = "BACKFILL_LAKE"
BIGQUERY_DATASET = "backfill"
"""The stand-ins are shared by the session: this module keeps to a database and a dataset of
its own, so it never touches the tables other tests seed."""

CANONICAL_DAILY_USAGE = """
    SELECT customer_id, metric, CAST(timezone('UTC', event_timestamp) AS DATE), count(*), sum(quantity)
    FROM billing.usage_events WHERE source_system = ? GROUP BY ALL
"""
CANONICAL_ROWS = """
    SELECT event_id, customer_id, metric, quantity, event_timestamp, properties, source_system
    FROM billing.usage_events ORDER BY event_id
"""
"""Every column but `ingested_at`, which records when the warehouse loaded the row: a re-run
loads it again."""

DailyUsage = set[tuple[str, str, date, int, Decimal]]
"""(customer, metric, UTC day, event count, exact quantity sum)"""


@dataclass(frozen=True)
class Event:
    """One metering record as every source stores it (its id is `number`, prefixed per source)."""

    number: int
    customer: str
    metric: str
    quantity: Decimal
    occurred_at: datetime
    properties: str | None


def metering_events(seed: int) -> list[Event]:
    """A week of usage around the window (2026-08-30 .. 2026-09-05), the window's edges included,
    with nine-decimal quantities over four customers and three metrics; the widest quantity sits
    on the window's first instant."""
    rng = random.Random(seed)
    first = datetime(2026, 8, 30, tzinfo=UTC)
    span = int(timedelta(days=7) / TICK)
    times = [*EDGES, *(first + rng.randrange(span) * TICK for _ in range(EVENTS_PER_SOURCE - len(EDGES)))]
    quantities = [Decimal(rng.randrange(1, 10**13)).scaleb(-9) for _ in times]
    quantities[EDGES.index(START)] = WIDE_QUANTITY
    return [
        Event(
            number=number,
            customer=f"CUS-{rng.randrange(1, 5)}",
            metric=rng.choice(["api_calls", "storage_gb_hours", "seats"]),
            quantity=quantity,
            occurred_at=occurred_at,
            properties=None if number % 4 == 0 else json.dumps({"region": f"eu-{number % 3}", "n": number}),
        )
        for number, (occurred_at, quantity) in enumerate(zip(times, quantities, strict=True))
    ]


@dataclass(frozen=True)
class Source:
    """A metering table in one source system, its billing.yaml entry, and its own daily usage."""

    name: str
    config: str
    daily_usage: Callable[[], DailyUsage]


def usage_query(select_id: str, table: str) -> str:
    """The usage_events dataset of a source: its query renames the table's columns to the raw
    contract, and gives the ids a per-source prefix when they are the table's own numbers."""
    return f"""
    datasets:
      usage_events:
        query: |
          SELECT {select_id} AS event_id, account_external_id AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM {table}
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


def as_daily_usage(rows) -> DailyUsage:
    return {(customer, metric, day, count, Decimal(total)) for customer, metric, day, count, total in rows}


def run_sql(url: str, *statements: tuple[str, object]) -> list[tuple]:
    """Run statements (each with its parameters: a dict, or a list of them) in one transaction;
    returns the rows of the last one."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for sql, parameters in statements:
                result = connection.execute(sa.text(sql), parameters)
            return result.fetchall() if result.returns_rows else []
    finally:
        engine.dispose()


# --- the sources ------------------------------------------------------------------------------


def postgres_app_db(url: str) -> Source:
    run_sql(
        url,
        (
            "CREATE TABLE usage_records (id bigint PRIMARY KEY, account_external_id text, metric text,"
            " quantity numeric(38, 9), occurred_at timestamptz, properties jsonb)",
            {},
        ),
        (
            "INSERT INTO usage_records VALUES"
            " (:number, :customer, :metric, :quantity, :occurred_at, CAST(:properties AS jsonb))",
            [vars(event) for event in metering_events(seed=1)],
        ),
    )

    def daily_usage() -> DailyUsage:
        aggregate = (
            "SELECT account_external_id, metric, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(quantity)"
            " FROM usage_records WHERE occurred_at >= :start AND occurred_at < :end GROUP BY 1, 2, 3"
        )
        return as_daily_usage(run_sql(url, (aggregate, {"start": START, "end": END})))

    config = f"    kind: sql\n    url_env: {APP_DB_URL_ENV}\n" + usage_query("'app-' || id", "usage_records")
    return Source("app_db", config, daily_usage)


def mysql_app_db(url: str) -> Source:
    """MySQL's DATETIME has no time zone: the table holds UTC, as the source's contract says."""
    run_sql(
        url,
        (
            "CREATE TABLE usage_records (id BIGINT PRIMARY KEY, account_external_id VARCHAR(40),"
            " metric VARCHAR(40), quantity DECIMAL(38, 9), occurred_at DATETIME(6), properties JSON)",
            {},
        ),
        (
            "INSERT INTO usage_records VALUES (:number, :customer, :metric, :quantity, :occurred_at, :properties)",
            [
                {**vars(event), "occurred_at": event.occurred_at.replace(tzinfo=None)}
                for event in metering_events(seed=2)
            ],
        ),
    )

    def daily_usage() -> DailyUsage:
        aggregate = (
            "SELECT account_external_id, metric, DATE(occurred_at), count(*), sum(quantity)"
            " FROM usage_records WHERE occurred_at >= :start AND occurred_at < :end GROUP BY 1, 2, 3"
        )
        naive_window = {"start": START.replace(tzinfo=None), "end": END.replace(tzinfo=None)}
        return as_daily_usage(run_sql(url, (aggregate, naive_window)))

    config = f"    kind: sql\n    url_env: {APP_DB_URL_ENV}\n" + usage_query("CONCAT('app-', id)", "usage_records")
    return Source("app_db", config, daily_usage)


def snowflake_usage_lake(standin) -> Source:
    """METERED_USAGE in a database of its own, PROPERTIES a VARIANT as in the sandbox's lake."""
    import snowflake.connector

    def connect():
        return snowflake.connector.connect(
            **standin.connect_arguments(), database=SNOWFLAKE_DATABASE, schema="METERING", paramstyle="numeric"
        )

    with snowflake.connector.connect(**standin.connect_arguments()) as connection:
        cursor = connection.cursor()
        cursor.execute(f"CREATE OR REPLACE DATABASE {SNOWFLAKE_DATABASE}")
        cursor.execute(f"CREATE SCHEMA {SNOWFLAKE_DATABASE}.METERING")
        cursor.execute(f"USE SCHEMA {SNOWFLAKE_DATABASE}.METERING")
        # Through a VARCHAR table: a VARIANT takes JSON text only from a SELECT (PARSE_JSON).
        cursor.execute(
            "CREATE TABLE DELIVERED (EVENT_ID VARCHAR, ACCOUNT_EXTERNAL_ID VARCHAR, METRIC VARCHAR,"
            " QUANTITY NUMBER(38, 9), OCCURRED_AT TIMESTAMP_TZ, PROPERTIES VARCHAR)"
        )
        cursor.executemany(
            "INSERT INTO DELIVERED VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (f"lake-{e.number}", e.customer, e.metric, e.quantity, e.occurred_at, e.properties)
                for e in metering_events(seed=3)
            ],
        )
        cursor.execute(
            "CREATE TABLE METERED_USAGE AS SELECT EVENT_ID, ACCOUNT_EXTERNAL_ID, METRIC, QUANTITY, OCCURRED_AT,"
            " PARSE_JSON(PROPERTIES) AS PROPERTIES FROM DELIVERED"
        )

    def daily_usage() -> DailyUsage:
        # The cast keeps fakesnow's SUM exact (it sums an uncast column as DOUBLE; Snowflake does not).
        with connect() as connection:
            rows = connection.cursor().execute(
                "SELECT ACCOUNT_EXTERNAL_ID, METRIC, TO_DATE(CONVERT_TIMEZONE('UTC', OCCURRED_AT)), COUNT(*),"
                " SUM(QUANTITY::NUMBER(38, 9)) FROM METERED_USAGE WHERE OCCURRED_AT >= :1 AND OCCURRED_AT < :2"
                " GROUP BY 1, 2, 3",
                [("TIMESTAMP_TZ", START), ("TIMESTAMP_TZ", END)],
            )
            return as_daily_usage(rows.fetchall())

    config = f"""    kind: snowflake
    account: {standin.account}
    user: {standin.user}
    password_env: {USAGE_LAKE_PASSWORD_ENV}
    database: {SNOWFLAKE_DATABASE}
    schema: METERING
    host: {standin.host}
    port: {standin.port}
    protocol: {standin.protocol}
""" + usage_query("event_id", "METERED_USAGE")
    return Source("usage_lake", config, daily_usage)


def bigquery_product_analytics(emulator, work_dir: Path) -> Source:
    """`backfill.usage_events` loaded from a Parquet file (the emulator takes resumable uploads)."""
    from google.cloud import bigquery as bq

    events = metering_events(seed=4)
    parquet = work_dir / "product_analytics.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": [f"api-{e.number}" for e in events],
                "account_external_id": [e.customer for e in events],
                "metric": [e.metric for e in events],
                "quantity": pa.array([e.quantity for e in events], pa.decimal128(38, 9)),
                "occurred_at": pa.array([e.occurred_at for e in events], pa.timestamp("us", tz="UTC")),
                "properties": [e.properties for e in events],
            }
        ),
        parquet,
    )
    table_id = f"{emulator.project}.{BIGQUERY_DATASET}.usage_events"
    with closing(emulator.client()) as client, open(parquet, "rb") as data:
        client.create_dataset(BIGQUERY_DATASET, exists_ok=True)
        client.delete_table(table_id, not_found_ok=True)
        table = client.create_table(bq.Table(table_id, schema=[bq.SchemaField(*column) for column in USAGE_COLUMNS]))
        job_config = bq.LoadJobConfig(source_format=bq.SourceFormat.PARQUET)
        client.load_table_from_file(data, table, size=None, job_config=job_config).result()

    def daily_usage() -> DailyUsage:
        window = [
            bq.ScalarQueryParameter("start", "TIMESTAMP", START),
            bq.ScalarQueryParameter("end", "TIMESTAMP", END),
        ]
        with closing(emulator.client()) as client:
            job = client.query(
                "SELECT account_external_id, metric, DATE(occurred_at), COUNT(*), SUM(quantity)"
                f" FROM {BIGQUERY_DATASET}.usage_events WHERE occurred_at >= @start AND occurred_at < @end"
                " GROUP BY 1, 2, 3",
                job_config=bq.QueryJobConfig(query_parameters=window),
            )
            return as_daily_usage(tuple(row.values()) for row in job.result())

    config = f"""    kind: bigquery
    project: {emulator.project}
    location: US
    api_endpoint: {emulator.api_endpoint}
""" + usage_query("event_id", f"{BIGQUERY_DATASET}.usage_events")
    return Source("product_analytics", config, daily_usage)


# --- the backfill -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """Which server is `app_db`, whether the warehouse sources join it, and which windows a
    re-run repeats (each a partition range, as one run)."""

    app_db_server: str
    with_warehouses: bool
    reruns: tuple[tuple[date, date], ...]


CONFIGURATIONS = {
    "app_db_on_postgres_with_warehouses": Configuration(
        "postgres", with_warehouses=True, reruns=((FIRST, LAST), (ONE_DAY, ONE_DAY))
    ),
    # one re-run (the day in the middle) here: the canonical step is the same for every source
    "app_db_on_mysql": Configuration("mysql", with_warehouses=False, reruns=((ONE_DAY, ONE_DAY),)),
}


class Backfill:
    """The project's definitions for a billing.yaml naming `sources` (usage only, landing off),
    its DuckDB warehouse and a Dagster instance, and the one run over FIRST..LAST."""

    def __init__(self, root: Path, configuration: Configuration, sources: list[Source]):
        self.configuration = configuration
        self.sources = sources
        self.warehouse = root / "warehouse.duckdb"
        entries = "".join(f"  {source.name}:\n{source.config}" for source in sources)
        (root / "billing.yaml").write_text(
            f'history_start: "2026-08-01"\nwarehouse: {{path: {self.warehouse}}}\nlanding: {{enabled: false}}\n'
            f"sources:\n{entries}"
        )
        current_config.cache_clear()
        # Imported here: the module loads the configuration in effect, which must be this one
        # (whatever BILLING_CONFIG the shell exports), not the one at collection.
        from billing_pipelines.definitions import build_definitions

        self.defs = build_definitions()
        self.instance = dg.DagsterInstance.ephemeral()
        self.result = self.run(FIRST, LAST)

    def run(self, first: date, last: date) -> dg.ExecuteInProcessResult:
        """One run of the usage job (every usage load, then the dbt step) over `first`..`last`."""
        result = run_days(self.defs, USAGE_JOB, first, last, self.instance)
        assert result.success, failure_messages(result)
        return result

    def query(self, sql: str, *parameters) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as warehouse:
            return warehouse.execute(sql, list(parameters)).fetchall()

    def daily_usage(self, source: Source) -> DailyUsage:
        return as_daily_usage(self.query(CANONICAL_DAILY_USAGE, source.name))


@pytest.fixture(scope="module", params=list(CONFIGURATIONS))
def backfill(request, tmp_path_factory) -> Iterator[Backfill]:
    """The sources seeded (`app_db` in a database created for it, dropped afterwards), the
    environment set, whatever BILLING_* variables the shell exports, and the backfill run."""
    configuration = CONFIGURATIONS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    with environment_restored(), pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith(("BILLING_", "DBT_ENV_SECRET_")) and not name.startswith("BILLING_TEST_"):
                env.delenv(name)
        env.setenv("BILLING_CONFIG", str(root / "billing.yaml"))
        env.setenv(USAGE_LAKE_PASSWORD_ENV, STANDIN_PASSWORD)
        postgres = configuration.app_db_server == "postgres"
        database = scratch_database(*((POSTGRES_ADMIN_URL, " WITH (FORCE)") if postgres else (MYSQL_ADMIN_URL,)))
        url = next(database)
        env.setenv(APP_DB_URL_ENV, url)
        try:
            sources = [postgres_app_db(url) if postgres else mysql_app_db(url)]
            if configuration.with_warehouses:
                sources.append(snowflake_usage_lake(request.getfixturevalue("snowflake_standin")))
                sources.append(bigquery_product_analytics(request.getfixturevalue("bigquery"), root))
            yield Backfill(root, configuration, sources)
        finally:
            next(database, None)  # drops it
            current_config.cache_clear()


def test_canonical_usage_per_customer_metric_and_day_equals_each_sources_own_aggregate(backfill):
    for source in backfill.sources:
        expected = source.daily_usage()
        assert {day for _, _, day, _, _ in expected} == {FIRST, ONE_DAY, LAST}, source.name
        assert len({customer for customer, *_ in expected}) > 1 and len({metric for _, metric, *_ in expected}) > 1
        assert any(total >= WIDE_QUANTITY for *_, total in expected), (
            f"{source.name}: the wide quantity is in the window"
        )
        assert backfill.daily_usage(source) == expected, source.name
    by_source = backfill.query("SELECT DISTINCT source_system FROM billing.usage_events")
    assert sorted(name for (name,) in by_source) == sorted(source.name for source in backfill.sources)


def test_the_window_holds_its_first_and_last_instant_and_nothing_beside_them(backfill):
    for source in backfill.sources:
        [(first, last)] = backfill.query(
            "SELECT min(event_timestamp), max(event_timestamp) FROM billing.usage_events WHERE source_system = ?",
            source.name,
        )
        assert (first, last) == (START, END - TICK), source.name


def test_the_one_run_over_the_range_materializes_every_day_of_it(backfill):
    partitions = {
        event.event_specific_data.materialization.partition
        for event in backfill.result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["billing", "usage_events"])
    }
    assert partitions == {"2026-09-01", "2026-09-02", "2026-09-03"}


def test_rerunning_the_window_or_a_day_inside_it_changes_nothing(backfill):
    loaded = backfill.query(CANONICAL_ROWS)
    assert len(loaded) == sum(count for source in backfill.sources for *_, count, _ in source.daily_usage())
    for first, last in backfill.configuration.reruns:
        backfill.run(first, last)
        assert backfill.query(CANONICAL_ROWS) == loaded, f"after re-running {first} .. {last}"
