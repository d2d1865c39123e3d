"""How a job's steps run: in the run's process where the warehouse takes one writer at a time."""

import dagster as dg

from billing_pipelines.config import parse_config
from billing_pipelines.defs.sync.jobs import executor_for

DUCKDB = parse_config('history_start: "2026-08-01"\nwarehouse: {kind: duckdb}\n')


def test_a_duckdb_warehouse_runs_the_steps_in_the_run_process():
    assert executor_for(DUCKDB) is dg.in_process_executor


def test_a_server_warehouse_runs_each_step_in_its_own_process():
    for warehouse in (
        "{kind: postgres, url_env: WAREHOUSE_URL}",
        "{kind: snowflake, account: acme, user: loader, database: BILLING}",
        "{kind: bigquery, project: acme-billing}",
    ):
        server = parse_config(f'history_start: "2026-08-01"\nwarehouse: {warehouse}\n')
        assert executor_for(server) is dg.multiprocess_executor
