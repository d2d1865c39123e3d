"""A SQL source's schema changing between two syncs, on the real PostgreSQL server, through the
real `usage_by_day` job (the raw load, then the dbt step).

The app database's metering table is read as configured in billing.yaml: by `table:` and its
cursor (every column the table has, `SELECT *`), or by a query naming its columns. A day is
loaded into raw before the table changes; a sync then reads it with the day after the change.

- A new column: kept in raw as delivered; the canonical tables keep their columns, and both
  days' events arrive as before.
- A type change (quantity from numeric to text, one value not a number): the bad event is
  quarantined with its reason and payload, the others arrive; none is lost.
- A required column renamed: the sync fails naming the column, and nothing of the day reaches
  the canonical tables (with a query, the source refuses it; with a table read whole, the
  column no longer comes). The second case fails today: the sync succeeds and the day's events
  are quarantined one by one as `missing metric` (see the test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa
from dagster_dlt import DagsterDltResource

from billing_pipelines.config import current_config
from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.defs.sync.jobs import USAGE_JOB
from billing_pipelines.lib.runs import failure_messages, partition_range_tags, run_days
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines_tests.environment import environment_restored
from billing_pipelines_tests.invariants import ExpectedUsage, assert_usage_accounted

URL_ENV = "SCHEMA_CHANGES_APP_DB_URL"
TABLE = "schema_change_usage"
BASELINE, CHANGED, RENAMED, RENAMED_IN_QUERY = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3), date(2026, 9, 4)
"""Each sync reads a day of its own (the first two together: see `changed_day`)."""
BASELINE_EVENTS = 5
CANONICAL_COLUMNS = sorted(
    ["event_id", "customer_id", "metric", "quantity", "event_timestamp", "properties", "source_system", "ingested_at"]
)
"""billing.usage_events' columns (sorted), whatever a source's raw table holds."""
BY_TABLE = f"""
    datasets:
      usage_events: {{table: {TABLE}, cursor: event_timestamp, primary_key: event_id}}
"""
BY_QUERY = f"""
    datasets:
      usage_events:
        query: |
          SELECT event_id, customer_external_id, metric, quantity, event_timestamp, properties
          FROM {TABLE} WHERE event_timestamp >= :window_start AND event_timestamp < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
CANONICAL_USAGE = "select event_id, customer_id, metric, quantity, event_timestamp from billing.usage_events"
QUARANTINE = "select location, reason, payload from billing.quarantine"


class Project:
    """billing.yaml naming the app database (read by table or by query), its definitions, an
    instance, and the warehouse it loads."""

    def __init__(self, root: Path):
        self.root = root
        self.warehouse = root / "warehouse.duckdb"
        self.instance = dg.DagsterInstance.ephemeral()
        self.configure(BY_TABLE)

    def configure(self, datasets: str) -> None:
        (self.root / "billing.yaml").write_text(
            f'history_start: "2026-08-01"\nwarehouse: {{path: {self.warehouse}}}\nlanding: {{enabled: false}}\n'
            f"sources:\n  app_db:\n    kind: sql\n    url_env: {URL_ENV}\n{datasets}"
        )
        current_config.cache_clear()
        from billing_pipelines.definitions import build_definitions  # the configuration in effect

        self.defs = build_definitions()

    def sync(self, first: date, last: date | None = None) -> dg.ExecuteInProcessResult:
        """One run of `usage_by_day` over `first`..`last`: the raw load, then the dbt step."""
        return run_days(self.defs, USAGE_JOB, first, last or first, self.instance)

    def load_raw(self, day: date) -> None:
        """The raw load of `day` alone (an earlier sync, as far as this source's raw table goes)."""
        config = current_config()
        assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
        resources = {"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)}
        result = dg.materialize(assets, resources=resources, tags=partition_range_tags(day, day), raise_on_error=False)
        assert result.success, failure_messages(result)

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as warehouse:
            return sorted(warehouse.execute(sql).fetchall(), key=repr)

    def columns(self, relation: str) -> list[str]:
        schema, table = relation.split(".")
        return [
            name
            for (name,) in self.query(
                f"select column_name from information_schema.columns where table_schema = '{schema}'"
                f" and table_name = '{table}'"
            )
        ]


@pytest.fixture(scope="module")
def app_db(postgres_url) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
        connection.execute(
            sa.text(
                f"CREATE TABLE {TABLE} (event_id text PRIMARY KEY, customer_external_id text, metric text,"
                " quantity numeric(38, 9), event_timestamp timestamptz, properties jsonb)"
            )
        )
    yield engine
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    engine.dispose()


def add_events(engine: sa.Engine, day: date, count: int, **extra: str) -> list[str]:
    """`count` events on `day` (their ids), each with the `extra` column values given."""
    base = ["event_id", "customer_external_id", "metric", "quantity", "event_timestamp"]
    columns = [*base, *(column for column in extra if column not in base)]
    rows = [
        {
            "event_id": f"{day:%m%d}-{n}",
            "customer_external_id": f"CUS-{n % 3}",
            "metric": "api_calls",
            "quantity": f"{n}.5",
            "event_timestamp": f"{day} {n:02d}:15:00+00",
            **extra,
        }
        for n in range(count)
    ]
    placeholders = ", ".join(f":{column}" for column in columns)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({placeholders})"), rows)
    return [row["event_id"] for row in rows]


def as_expected(day: date, n: int) -> ExpectedUsage:
    """What billing must hold of the `n`th event `add_events` wrote on `day`."""
    return ExpectedUsage(
        f"{day:%m%d}-{n}",
        f"CUS-{n % 3}",
        "api_calls",
        Decimal(f"{n}.5"),
        datetime(day.year, day.month, day.day, n, 15, tzinfo=UTC),
    )


def alter(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


@pytest.fixture(scope="module")
def project(tmp_path_factory, app_db, postgres_url) -> Iterator[Project]:
    """The table read whole (`table:`), a baseline day loaded into raw."""
    root = tmp_path_factory.mktemp("schema_changes")
    with environment_restored(), pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith(("BILLING_", "DBT_ENV_SECRET_")) and not name.startswith("BILLING_TEST_"):
                env.delenv(name)
        env.setenv("BILLING_CONFIG", str(root / "billing.yaml"))
        env.setenv(URL_ENV, postgres_url)
        project = Project(root)
        add_events(app_db, BASELINE, BASELINE_EVENTS)
        project.load_raw(BASELINE)
        try:
            yield project
        finally:
            current_config.cache_clear()


@dataclass(frozen=True)
class ChangedDay:
    """A sync of the baseline day and of a day after the table gained a column and its quantity
    became text (one value of it not a number)."""

    result: dg.ExecuteInProcessResult
    with_region: list[str]
    good: list[str]
    bad: str


@pytest.fixture(scope="module")
def changed_day(project, app_db) -> ChangedDay:
    """The baseline day was loaded into raw before the table changed; one sync of both days."""
    alter(
        app_db,
        f"ALTER TABLE {TABLE} ADD COLUMN region text",
        f"ALTER TABLE {TABLE} ALTER COLUMN quantity TYPE text USING quantity::text",
    )
    with_region = add_events(app_db, CHANGED, 4, region="eu-west")
    [bad] = add_events(app_db, CHANGED, 1, event_id=f"{CHANGED:%m%d}-bad", quantity="lots")
    result = project.sync(BASELINE, CHANGED)
    return ChangedDay(result, with_region, with_region, bad)


def test_a_new_column_is_kept_in_raw_and_canonical_keeps_its_shape(project, changed_day):
    assert changed_day.result.success, failure_messages(changed_day.result)
    assert "region" in project.columns("raw_app_db.usage_events")
    assert project.query("select event_id, region from raw_app_db.usage_events where region is not null") == [
        (event_id, "eu-west") for event_id in sorted(changed_day.with_region)
    ]
    assert project.columns("billing.usage_events") == CANONICAL_COLUMNS
    canonical = project.query(CANONICAL_USAGE)
    assert [row[0] for row in canonical if row[0].startswith(f"{BASELINE:%m%d}-")] == [
        f"{BASELINE:%m%d}-{n}" for n in range(BASELINE_EVENTS)
    ], "the day loaded before the change is read as before"
    assert sorted(row[0] for row in canonical if row[0] in changed_day.with_region) == changed_day.with_region


def test_a_quantity_turned_text_with_a_bad_value_is_quarantined_and_the_rest_arrive(project, changed_day):
    assert changed_day.result.success, failure_messages(changed_day.result)
    canonical = project.query(CANONICAL_USAGE)
    assert sorted(row[0] for row in canonical if row[0].startswith(f"{CHANGED:%m%d}-")) == changed_day.good
    assert [(row[0], row[3]) for row in canonical if row[0] in changed_day.good] == [
        (event_id, Decimal(f"{n}.5")) for n, event_id in enumerate(changed_day.good)
    ]
    assert_usage_accounted(
        project.warehouse,
        [
            *(as_expected(BASELINE, n) for n in range(BASELINE_EVENTS)),
            *(as_expected(CHANGED, n) for n in range(len(changed_day.good))),
            replace(as_expected(CHANGED, 0), event_id=changed_day.bad, billable=False),
        ],
    )
    quarantined = [row for row in project.query(QUARANTINE) if changed_day.bad in f"{row[0]} {row[2]}"]
    assert len(quarantined) == 1 and quarantined[0][1] == "unparsable quantity: 'lots'", quarantined
    assert '"quantity":"lots"' in quarantined[0][2]


@contextmanager
def metric_renamed(app_db: sa.Engine, day: date) -> Iterator[str]:
    """The table's `metric` column renamed to `meter`, with one event of `day` written so, for
    the block; yields the event's id."""
    event_id = f"{day:%m%d}-renamed"
    alter(
        app_db,
        f"ALTER TABLE {TABLE} RENAME COLUMN metric TO meter",
        f"INSERT INTO {TABLE} (event_id, customer_external_id, meter, quantity, event_timestamp)"
        f" VALUES ('{event_id}', 'CUS-1', 'api_calls', '1', '{day} 10:00:00+00')",
    )
    try:
        yield event_id
    finally:
        alter(app_db, f"ALTER TABLE {TABLE} RENAME COLUMN meter TO metric")


def test_a_required_column_renamed_under_a_query_fails_the_sync_naming_it(project, app_db):
    canonical_before, quarantine_before = project.query(CANONICAL_USAGE), project.query(QUARANTINE)
    project.configure(BY_QUERY)
    try:
        with metric_renamed(app_db, RENAMED_IN_QUERY):
            result = project.sync(RENAMED_IN_QUERY)
    finally:
        project.configure(BY_TABLE)

    assert not result.success
    [failure] = result.get_step_failure_events()
    message = str(failure.event_specific_data.error)
    assert "will not be retried" in message and 'column "metric" does not exist' in message, message
    assert "dbt_models" not in {e.step_key for e in result.get_step_success_events()}
    assert project.query(CANONICAL_USAGE) == canonical_before
    assert project.query(QUARANTINE) == quarantine_before


def test_a_required_column_renamed_in_a_table_read_whole_fails_the_sync_naming_it(project, app_db):
    canonical_before = project.query(CANONICAL_USAGE)
    with metric_renamed(app_db, RENAMED) as event_id:
        result = project.sync(RENAMED)

    assert project.query(CANONICAL_USAGE) == canonical_before, "nothing of the day reaches canonical"
    quarantined = [row for row in project.query(QUARANTINE) if event_id in row[0]]
    assert not result.success, (
        "the source stopped delivering the required column `metric`, and the sync passed as a good one;"
        f" its event went to quarantine as {quarantined}"
    )
    assert "metric" in failure_messages(result)
