"""A company whose sources deliver customers and usage but no contracts (a usage-based product
billed from its own app database) syncs on a fresh warehouse: the canonical tables its sources
feed are built and checked, and no run fails on a contracts table that nothing loads."""

import sqlite3
from datetime import date

import dagster as dg
import duckdb

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.environment import environment_restored
from billing_pipelines_tests.invariants import assert_dbt_checks_passed

DAY = date(2026, 9, 1)
CUSTOMERS_AND_USAGE_ONLY = """\
landing: {enabled: false}
sources:
  app_db:
    kind: sql
    url: sqlite:///app.sqlite
    datasets:
      customers: {table: accounts, cursor: updated_at, primary_key: account_id}
      usage_events:
        query: |
          SELECT event_id, customer_external_id, metric, quantity, event_timestamp, properties
          FROM usage WHERE event_timestamp >= :window_start AND event_timestamp < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
APP_DATABASE = """
create table accounts (account_id integer primary key, external_id text, name text, updated_at timestamp);
insert into accounts values (1, 'CUS-1', 'Acme', '2026-08-20 10:00:00'), (2, 'CUS-2', 'Beta', '2026-08-21 10:00:00');
create table usage (
    event_id text primary key, customer_external_id text, metric text, quantity numeric,
    event_timestamp timestamp, properties text
);
insert into usage values
    ('e1', 'CUS-1', 'api_calls', 3, '2026-09-01 09:00:00', '{}'),
    ('e2', 'CUS-2', 'api_calls', 4, '2026-09-01 10:00:00', '{}'),
    ('e3', 'CUS-2', 'seats', 1, '2026-09-01 11:00:00', '{}');
"""


def test_a_sync_without_any_contract_source_builds_and_checks_what_its_sources_feed(project_config, tmp_path):
    with sqlite3.connect(tmp_path / "app.sqlite") as app:
        app.executescript(APP_DATABASE)
    project_config(CUSTOMERS_AND_USAGE_ONLY)
    with environment_restored():
        result = run_days(build_definitions(), SYNC_JOB, DAY, DAY, dg.DagsterInstance.ephemeral())
    assert result.success, failure_messages(result)
    assert_dbt_checks_passed(result, assets=["billing/usage_events", "billing/customers"], allow_warnings=False)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as warehouse:
        customers = warehouse.execute("select external_id from billing.customers order by 1").fetchall()
        usage = warehouse.execute("select event_id, quantity from billing.usage_events order by 1").fetchall()
        tables = {name for (name,) in warehouse.execute("select table_name from information_schema.tables").fetchall()}
    assert customers == [("CUS-1",), ("CUS-2",)]
    assert [(event_id, float(quantity)) for event_id, quantity in usage] == [("e1", 3), ("e2", 4), ("e3", 1)]
    assert "contracts" not in tables
