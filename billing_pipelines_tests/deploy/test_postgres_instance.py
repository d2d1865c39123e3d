"""The deployment's Dagster instance (`deploy/dagster.yaml`) on the real PostgreSQL server.

The instance is built from the shipped file itself, its settings taken from the environment as
in a deployment (a scratch database, a temporary DAGSTER_HOME). The code location runs as a gRPC
server, as the daemon sees it; a partitioned backfill is created the way the UI's "Launch
backfill" creates one, the backfill daemon submits its run, the queued run coordinator launches
it with the default run launcher (a run worker process), and what a billing operator reads in
the UI afterwards — the run, the materializations of each day, the dbt tests' check results, the
landing sensor's tick — is read back from PostgreSQL.
"""

import logging
import os
import shutil
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import BACKFILL_ID_TAG, SENSOR_NAME_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_timestamp
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from billing_pipelines.config import current_config
from billing_pipelines.defs.landing.sensors import LANDING_USAGE_JOB
from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines_tests.conftest import POSTGRES_ADMIN_URL, scratch_database

REPO = Path(__file__).resolve().parents[2]
LOCATION = "billing_pipelines"
LAST_DAY = date(2026, 9, 30)
BACKFILL_DAYS = ["2026-09-28", "2026-09-29", "2026-09-30"]
# The usage chain of one pulled source, every asset in it daily-partitioned.
BACKFILL_ASSETS = [
    dg.AssetKey(["raw_app_db", "usage_events"]),
    dg.AssetKey(["staging", "stg_app_db__usage_events"]),
    dg.AssetKey(["billing", "usage_events"]),
    dg.AssetKey(["billing", "usage_events_quarantine"]),
    dg.AssetKey(["billing", "daily_usage_totals"]),
]
RUN_TIMEOUT_SECONDS = 240
SANDBOX_CONFIG = """\
history_start: "2026-08-01"
warehouse: {path: warehouse.duckdb}
landing: {path: landing}
sources:
  app_db:
    kind: sql
    url: sqlite:///app_db.sqlite
    datasets:
      usage_events:
        query: |
          SELECT u.id AS event_id, a.external_id AS customer_external_id, u.metric, u.quantity,
                 u.occurred_at AS event_timestamp, u.properties
          FROM usage_records u JOIN accounts a ON a.id = u.account_id
          WHERE u.occurred_at >= :window_start AND u.occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
RESOLVED_CHECK_STATUSES = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
LOG = logging.getLogger("billing_pipelines_tests.deploy")


@pytest.fixture(scope="module")
def dagster_database():
    yield from scratch_database(POSTGRES_ADMIN_URL, drop_suffix=" WITH (FORCE)")


@pytest.fixture(scope="module")
def deployment(dagster_database, tmp_path_factory):
    """The environment of a deployed code location and daemon: the instance's settings, a small
    sandbox company's billing.yaml, and nothing else starting with BILLING_ (every variable the
    code reads is the test's own). Subprocesses (the code server, run workers) inherit it."""
    saved = dict(os.environ)
    url = sa.make_url(dagster_database)
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    sandbox = tmp_path_factory.mktemp("sandbox")
    (sandbox / "billing.yaml").write_text(SANDBOX_CONFIG)
    generate_company(
        sandbox / "app_db.sqlite",
        sandbox / "landing",
        end_date=LAST_DAY,
        days=31,
        accounts=20,
        usage_events=3_000,
        landing_usage_events=1_000,
    )
    for name in [name for name in os.environ if name.startswith("BILLING_") and not name.startswith("BILLING_TEST_")]:
        del os.environ[name]
    os.environ.update(
        {
            "BILLING_CONFIG": str(sandbox / "billing.yaml"),
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": url.host,
            "DAGSTER_PG_PORT": str(url.port or 5432),
            "DAGSTER_PG_USER": url.username,
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": url.database,
        }
    )
    current_config.cache_clear()
    try:
        with dg.DagsterInstance.get() as instance:
            target = ModuleTarget(
                module_name="billing_pipelines.definitions",
                attribute=None,
                working_directory=str(REPO),
                location_name=LOCATION,
            )
            with create_test_daemon_workspace_context(target, instance) as workspace:
                error = workspace.create_request_context().get_code_location_error(LOCATION)
                assert error is None, error.to_string()
                yield instance, workspace, sandbox
    finally:
        os.environ.clear()
        os.environ.update(saved)
        current_config.cache_clear()


def test_the_instance_is_stored_in_postgres(deployment):
    instance, *_ = deployment
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert instance.run_monitoring_enabled and instance.run_retries_enabled
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 8


def wait_for_runs(instance, run_ids) -> list:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(run_ids=list(run_ids)))
        if all(run.is_finished for run in runs):
            return runs
        time.sleep(1)
    pytest.fail(f"runs not finished after {RUN_TIMEOUT_SECONDS}s: {[(r.run_id, r.status) for r in runs]}")


def run_story(instance, run_id: str) -> str:
    """A failed run's engine and failure events, for the assertion message."""
    return "\n".join(
        f"{event.dagster_event_type}: {event.message or ''}"
        for event in instance.all_logs(run_id)
        if event.is_dagster_event and (event.dagster_event.is_failure or event.dagster_event.is_engine_event)
    )


def launch_queued_runs(workspace) -> None:
    """One iteration of the daemon's run queue: the queued runs start (default run launcher)."""
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))


def test_a_partitioned_backfill_is_recorded_in_postgres(deployment, dagster_database):
    instance, workspace, sandbox = deployment
    backfill_id = "usage-migration"
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=workspace.create_request_context().asset_graph,
        partition_names=BACKFILL_DAYS,
        asset_selection=BACKFILL_ASSETS,
        backfill_timestamp=get_current_timestamp(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title="usage migration",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)

    errors = [error for error in execute_backfill_iteration(workspace, LOG) if error is not None]
    assert not errors, errors[0].to_string()
    # A range is one run (every asset here has a single-run backfill policy), queued.
    [queued] = instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    assert queued.status == DagsterRunStatus.QUEUED
    assert set(queued.asset_selection) == set(BACKFILL_ASSETS)

    launch_queued_runs(workspace)
    [run] = wait_for_runs(instance, [queued.run_id])
    assert run.status == DagsterRunStatus.SUCCESS, run_story(instance, run.run_id)
    errors = [error for error in execute_backfill_iteration(workspace, LOG) if error is not None]
    assert not errors, errors[0].to_string()
    assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS

    # Every selected asset has a materialization for each day of the range.
    for key in BACKFILL_ASSETS:
        records = instance.fetch_materializations(key, limit=100).records
        assert sorted(record.partition_key for record in records) == BACKFILL_DAYS, key
        assert {record.run_id for record in records} == {run.run_id}
    # The dbt tests of the backfilled models ran as asset checks, each with a recorded result.
    checks = workspace.create_request_context().asset_graph.get_check_keys_for_assets(set(BACKFILL_ASSETS))
    assert dg.AssetCheckKey(dg.AssetKey(["billing", "usage_events"]), "unique_usage_events_event_id") in checks
    latest = {key: instance.event_log_storage.get_asset_check_execution_history(key, limit=1) for key in checks}
    assert all(history and history[0].run_id == run.run_id for history in latest.values()), latest
    assert all(history[0].status in RESOLVED_CHECK_STATUSES for history in latest.values()), latest

    # The same, straight from the PostgreSQL tables.
    engine = sa.create_engine(dagster_database)
    with engine.connect() as connection:
        [(status,)] = connection.execute(sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": run.run_id})
        assert status == "SUCCESS"
        materialized = connection.execute(
            sa.text(
                "SELECT count(*) FROM event_logs WHERE run_id = :id AND dagster_event_type = 'ASSET_MATERIALIZATION'"
            ),
            {"id": run.run_id},
        ).scalar()
        assert materialized == len(BACKFILL_ASSETS) * len(BACKFILL_DAYS)
        # rows are written PLANNED when the run starts; each dbt test result resolves its check
        resolved = connection.execute(
            sa.text(
                "SELECT DISTINCT asset_key, check_name FROM asset_check_executions"
                " WHERE run_id = :id AND execution_status IN ('SUCCEEDED', 'FAILED')"
            ),
            {"id": run.run_id},
        ).all()
        assert {(dg.AssetKey.from_db_string(key), name) for key, name in resolved} == {
            (check.asset_key, check.name) for check in checks
        }
    engine.dispose()

    # The run wrote the warehouse: the range's events are in the canonical table.
    with duckdb.connect(str(sandbox / "warehouse.duckdb"), read_only=True) as warehouse:
        days = warehouse.execute(
            "SELECT DISTINCT CAST(event_timestamp AS DATE)::VARCHAR FROM billing.usage_events ORDER BY 1"
        ).fetchall()
    assert [day for (day,) in days] == BACKFILL_DAYS


def test_a_landing_sensor_tick_is_recorded_in_postgres(deployment, dagster_database):
    instance, workspace, sandbox = deployment
    inbox = sandbox / "landing" / "usage_events"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "upload.csv").write_text(
        "event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
        "deploy-1,CUS-000001,api_calls,3,2026-09-29T08:00:00Z,{}\n"
    )

    list(execute_sensor_iteration(workspace, LOG, threadpool_executor=None, submit_threadpool_executor=None))

    location = workspace.create_request_context().get_code_location(LOCATION)
    remote = next(
        s for repo in location.get_repositories().values() for s in repo.get_sensors() if s.name == "landing_files"
    )
    [tick] = instance.get_ticks(remote.get_remote_origin_id(), remote.selector_id, limit=1)
    assert tick.status == TickStatus.SUCCESS, tick.error
    # The sandbox's own inbox files land in the same tick: the upload's day is among the runs'.
    requested = instance.get_runs(RunsFilter(tags={SENSOR_NAME_TAG: "landing_files"}))
    assert requested and {run.run_id for run in requested} == set(tick.run_ids)
    assert all(run.status == DagsterRunStatus.QUEUED for run in requested)  # the daemon's queue starts them
    usage_ranges = [
        (run.tags[PARTITION_RANGE_START], run.tags[PARTITION_RANGE_END])
        for run in requested
        if run.job_name == LANDING_USAGE_JOB
    ]
    assert any(first <= "2026-09-29" <= last for first, last in usage_ranges), usage_ranges

    engine = sa.create_engine(dagster_database)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT status FROM job_ticks WHERE selector_id = :selector"), {"selector": remote.selector_id}
        ).all()
    engine.dispose()
    assert [status for (status,) in rows] == ["SUCCESS"]
