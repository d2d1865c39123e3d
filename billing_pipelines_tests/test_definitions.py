"""The whole project loads with the shipped billing.yaml, its lineage reads
source system → raw → staging → canonical → marts for every source, and every run of it
executes its steps in one process (DuckDB takes one writer at a time)."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from billing_pipelines.config import PROJECT_ROOT, current_config
from billing_pipelines.definitions import build_definitions


@pytest.fixture(scope="module")
def defs():
    current_config.cache_clear()
    defs = build_definitions()
    defs.validate_loadable(defs)
    return defs


@pytest.fixture(scope="module")
def asset_graph(defs):
    return defs.resolve_asset_graph()


@pytest.mark.parametrize("source", ["app_db", "landing"])
def test_lineage_links_each_source_to_the_marts(asset_graph, source):
    chain = [
        [source, "usage_events"],
        [f"raw_{source}", "usage_events"],
        ["staging", f"stg_{source}__usage_events"],
        ["billing", "usage_events"],
        ["billing", "daily_usage_totals"],
        ["billing", "billable_usage_daily"],
    ]
    for upstream, downstream in zip(chain, chain[1:]):
        parents = asset_graph.get(dg.AssetKey(downstream)).parent_keys
        assert dg.AssetKey(upstream) in parents, f"{upstream} is not upstream of {downstream}"


def test_groups_kinds_and_pool(asset_graph):
    raw = asset_graph.get(dg.AssetKey(["raw_app_db", "usage_events"]))
    assert raw.group_name == "app_db" and "dlt" in raw.kinds
    assert asset_graph.get(dg.AssetKey(["staging", "stg_landing__usage_events"])).group_name == "landing"
    assert asset_graph.get(dg.AssetKey(["billing", "customers"])).group_name == "canonical"
    assert asset_graph.get(dg.AssetKey(["billing", "billable_usage_daily"])).group_name == "marts"
    for key in asset_graph.materializable_asset_keys:
        assert asset_graph.get(key).pools == {"warehouse"}, f"{key} writes the warehouse outside the pool"


def test_canonical_tables_and_marts_carry_the_freshness_policy(asset_graph):
    policy = asset_graph.get(dg.AssetKey(["billing", "billable_usage_daily"])).freshness_policy
    assert policy == dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=13))
    assert asset_graph.get(dg.AssetKey(["billing", "usage_events"])).freshness_policy == policy
    assert asset_graph.get(dg.AssetKey(["raw_app_db", "usage_events"])).freshness_policy is None
    assert asset_graph.get(dg.AssetKey(["staging", "stg_app_db__customers"])).freshness_policy is None


def test_usage_is_daily_partitioned_with_single_run_backfills(asset_graph):
    for key in (["raw_app_db", "usage_events"], ["raw_landing", "usage_events"], ["billing", "usage_events"]):
        node = asset_graph.get(dg.AssetKey(key))
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert asset_graph.get(dg.AssetKey(["billing", "customers"])).partitions_def is None


def test_the_dbt_models_are_one_step(asset_graph):
    steps = {asset_graph.get(key).assets_def.node_def.name for key in asset_graph.materializable_asset_keys}
    loads = {
        "app_db_state",
        "app_db_usage",
        "usage_lake_usage",
        "product_analytics_usage",
        "landing_state",
        "landing_usage",
        "stripe_api",
        "hubspot_api",
        "google_sheets_api",
    }
    assert steps == {*loads, "dbt_models"}


@pytest.mark.parametrize(
    "job", ["billing_sync", "usage_by_day", "state_sync", "landing_usage_by_day", "landing_state_sync", "__ASSET_JOB"]
)
def test_every_run_executes_its_steps_in_one_process(defs, job):
    assert defs.resolve_job_def(job).executor_def is dg.in_process_executor


def test_dbt_tests_are_asset_checks_with_a_warning_for_unknown_customers(asset_graph):
    checks = {key.name: key for key in asset_graph.asset_check_keys}
    assert any(name.startswith("unique_usage_events_event_id") for name in checks)
    assert any(name.startswith("relationships_usage_events_customer_id") for name in checks)


@pytest.mark.parametrize(
    "command", [["dagster", "definitions", "validate", "-w", "workspace.yaml"], ["dg", "check", "defs"]]
)
def test_both_clis_load_the_project(command, tmp_path):
    executable, *arguments = command
    result = subprocess.run(
        [str(Path(sys.prefix) / "bin" / executable), *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": sys.prefix},
    )
    assert result.returncode == 0, result.stdout + result.stderr
