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
from billing_pipelines_tests.operations.conftest import APP_DATABASE, SQL_SOURCE, USAGE_DAY, usage_rows

DAY = date.fromisoformat(USAGE_DAY)


def test_a_sync_without_any_contract_source_builds_and_checks_what_its_sources_feed(project_config, tmp_path):
    with sqlite3.connect(tmp_path / "app.sqlite") as app:
        app.executescript(APP_DATABASE)
        app.executemany("insert into usage values (?, ?, ?, ?, ?, ?)", usage_rows())
    project_config("landing: {enabled: false}\n" + SQL_SOURCE)  # customers and usage, no contracts
    with environment_restored():
        result = run_days(build_definitions(), SYNC_JOB, DAY, DAY, dg.DagsterInstance.ephemeral())
    assert result.success, failure_messages(result)
    assert_dbt_checks_passed(result, assets=["billing/usage_events", "billing/customers"], allow_warnings=False)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as warehouse:
        customers = warehouse.execute("select external_id from billing.customers order by 1").fetchall()
        usage = warehouse.execute("select event_id, quantity from billing.usage_events order by 1").fetchall()
        tables = {name for (name,) in warehouse.execute("select table_name from information_schema.tables").fetchall()}
    assert customers == [("CUS-1",), ("CUS-2",)]
    assert [(event_id, float(quantity)) for event_id, quantity in usage] == [(f"e{n}", n) for n in range(7)]
    assert "contracts" not in tables
