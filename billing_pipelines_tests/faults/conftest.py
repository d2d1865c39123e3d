"""A small billing company for the fault tests: a real PostgreSQL app database (accounts and
usage), a billing.yaml reading it into a DuckDB warehouse, and a persistent Dagster instance (its
own DAGSTER_HOME with the shipped dagster.yaml: SQLite storage, the `warehouse` pool limited to 1).

Runs execute in child processes (`run_in_child`), as a run worker does, so a test can kill one
with SIGKILL, start two at once, or hold the warehouse file while one runs, and then read what
the instance recorded and what the warehouse holds.

The app database's usage query calls `fault_pause()` once per read: a PostgreSQL function that
waits while the table `fault_control` says `hold` (false normally; at most 5 minutes), so a test
can hold a run in its extract, see it there from outside (`pg_stat_activity`), and let it go on.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration  # what the daemon runs

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import SYNC_JOB, USAGE_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.warehouse import WAREHOUSE_POOL
from billing_pipelines_tests.ingest_api.pipeline import configured
from billing_pipelines_tests.invariants import (
    ExpectedUsage,
    assert_daily_sums_match,
    assert_dbt_checks_passed,
    assert_usage_accounted,
)

REPO = Path(__file__).resolve().parents[2]
FIRST, LAST = date(2026, 9, 1), date(2026, 9, 3)
"""The backfill range every fault test runs (three daily partitions)."""
APP_DB_URL_ENV = "FAULTS_APP_DB_URL"
RUN_TIMEOUT_SECONDS = 240
"""Longest a child run may take before the test fails (a hung run, never a timing assertion)."""
WAREHOUSE_STEPS = ("app_db_state", "app_db_usage", "dbt_models")
"""The steps of `billing_sync` that write the warehouse (all in the `warehouse` pool;
`usage_by_day` has the last two)."""

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from datetime import date
    from pathlib import Path

    pause_at = os.environ.get("FAULTS_PAUSE_AT")
    if pause_at == "load":
        # hold the run in dlt's load, after the first table chain reached the warehouse and before
        # the package is complete: a marker file tells the test the run is there
        from dlt.load.load import Load

        original = Load.create_followup_jobs

        def paused(self, *args, **kwargs):
            Path(os.environ["FAULTS_PAUSE_MARKER"]).write_text(str(os.getpid()))
            time.sleep(600)
            return original(self, *args, **kwargs)

        Load.create_followup_jobs = paused

    import dagster as dg
    from billing_pipelines.definitions import build_definitions
    from billing_pipelines.lib.runs import failure_messages, run_days

    job, first, last, run_id = sys.argv[1:5]
    tags = dict(tag.split("=", 1) for tag in sys.argv[5:])
    with dg.DagsterInstance.get() as instance:
        result = run_days(
            build_definitions(), job, date.fromisoformat(first), date.fromisoformat(last), instance, run_id, **tags
        )
    print(failure_messages(result), file=sys.stderr)
    sys.exit(0 if result.success else 1)
    """
)


@dataclass(frozen=True)
class Account:
    external_id: str
    name: str


ACCOUNTS = [Account("CUS-1", "Acme GmbH"), Account("CUS-2", "Globex Ltd"), Account("CUS-3", "Initech")]


def source_events() -> list[ExpectedUsage]:
    """The app database's usage: 36 events from 2026-08-31 to 2026-09-04 (the window's edges
    and the days around it), nine-decimal quantities, three customers and two metrics."""
    first = datetime(2026, 8, 31, 23, 59, 59, tzinfo=UTC)
    events = []
    for number in range(36):
        moment = first + timedelta(hours=3 * number, microseconds=number)
        events.append(
            ExpectedUsage(
                event_id=f"app-{number}",
                customer_id=ACCOUNTS[number % 3].external_id,
                metric=("api_calls", "storage_gb_hours")[number % 2],
                quantity=Decimal(f"{number * 7919 % 1000}.{number:09d}"),
                event_timestamp=moment,
                properties=f'{{"n": {number}}}',
                source_system="app_db",
            )
        )
    return events


BILLING_YAML = """\
history_start: "2026-08-01"
warehouse: {{path: warehouse.duckdb}}
landing: {{enabled: false}}
sources:
  app_db:
    kind: sql
    url_env: {url_env}
    datasets:
      customers:
        query: |
          SELECT id AS account_id, external_id, name, NULL::text AS email, NULL::text AS phone,
                 NULL::text AS line1, NULL::text AS line2, NULL::text AS city, NULL::text AS state,
                 NULL::text AS postal_code, 'DE' AS country, NULL::text AS tax_id, 'EUR' AS currency,
                 updated_at AS created_at, updated_at, NULL::timestamptz AS deleted_at
          FROM {schema}.accounts
          WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: account_id
      contracts:
        query: |
          SELECT id AS subscription_id, external_id AS customer_external_id, 'Usage plan' AS name,
                 'active' AS status, 'EUR' AS currency, DATE '2026-08-01' AS start_date,
                 NULL::date AS end_date, 'auto_renew' AS renewal_policy, updated_at,
                 NULL::timestamptz AS deleted_at
          FROM {schema}.accounts
          WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: subscription_id
      contract_items:
        query: |
          SELECT id AS item_id, id AS subscription_id, 'api' AS product_id, 'API calls' AS product_name,
                 'per_unit' AS pricing_model, 0.002 AS unit_amount, 'EUR' AS currency,
                 'P1M' AS billing_period, 1 AS quantity, 'api_calls' AS metric,
                 DATE '2026-08-01' AS start_date, NULL::date AS end_date, updated_at
          FROM {schema}.accounts
          WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: item_id
      usage_events:
        query: |
          SELECT 'app-' || u.id AS event_id, a.external_id AS customer_external_id, u.metric,
                 u.quantity, u.occurred_at AS event_timestamp, u.properties
          FROM {schema}.usage_records u
          JOIN {schema}.accounts a ON a.id = u.account_id
          CROSS JOIN (SELECT {schema}.fault_pause()) AS pause
          WHERE u.occurred_at >= :window_start AND u.occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


@dataclass
class Company:
    """One module's billing company: its app database schema, its folder (billing.yaml, the
    warehouse) and its Dagster instance."""

    root: Path
    database_url: str
    schema: str
    events: dict[str, ExpectedUsage] = field(default_factory=dict)
    """What the app database's usage table holds, by event id."""
    children: list[subprocess.Popen] = field(default_factory=list)

    def store_events(self, events: Iterable[ExpectedUsage]) -> None:
        """Insert or change usage rows in the app database (an upsert on the row id)."""
        events = list(events)
        self.sql(
            f"INSERT INTO {self.schema}.usage_records VALUES"
            " (:id, :account_id, :metric, :quantity, :occurred_at, CAST(:properties AS jsonb))"
            " ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, metric = excluded.metric,"
            " quantity = excluded.quantity, occurred_at = excluded.occurred_at, properties = excluded.properties",
            [
                {
                    "id": int(event.event_id.removeprefix("app-")),
                    "account_id": 1 + [a.external_id for a in ACCOUNTS].index(event.customer_id),
                    "metric": event.metric,
                    "quantity": event.quantity,
                    "occurred_at": event.event_timestamp,
                    "properties": event.properties,
                }
                for event in events
            ],
        )
        self.events.update((event.event_id, event) for event in events)

    def expected(self, first: date = FIRST, last: date = LAST) -> list[ExpectedUsage]:
        """The source's usage records of the days `first`..`last`: what canonical must hold."""
        return [event for event in self.events.values() if first <= event.usage_day <= last]

    @property
    def config_path(self) -> Path:
        return self.root / "billing.yaml"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def environment(self) -> dict[str, str]:
        """A run worker's environment: this company's config and instance, no BILLING_* of the shell."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(("BILLING_", "DAGSTER_"))}
        env.update(
            BILLING_CONFIG=str(self.config_path),
            DAGSTER_HOME=str(self.dagster_home),
            DO_NOT_TRACK="1",
            PYTHONUNBUFFERED="1",
            **{APP_DB_URL_ENV: self.database_url},
        )
        env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def sql(self, statement: str, parameters: object = None) -> list[tuple]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(sa.text(statement), parameters or {})
                return result.fetchall() if result.returns_rows else []
        finally:
            engine.dispose()

    def hold_extract(self, hold: bool) -> None:
        """Hold every read of the usage query in PostgreSQL (until released), or release them."""
        self.sql(f"UPDATE {self.schema}.fault_control SET hold = :hold", {"hold": hold})

    def extract_in_progress(self) -> bool:
        """A usage read of this company sits in PostgreSQL (seen from outside, pg_stat_activity)."""
        rows = self.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE :pattern"
            " AND pid <> pg_backend_pid()",
            {"pattern": f"%{self.schema}.fault_pause()%"},
        )
        return rows[0][0] > 0

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))

    def run_in_child(
        self,
        job: str = USAGE_JOB,
        first: date = FIRST,
        last: date = LAST,
        *,
        pause_at: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> tuple[subprocess.Popen, str]:
        """Start a run of `job` over `first`..`last` in a process of its own (its own process
        group, so a kill takes its dbt child too); returns the process and the run id."""
        run_id = str(uuid.uuid4())
        env = self.environment
        if pause_at:
            env.update(FAULTS_PAUSE_AT=pause_at, FAULTS_PAUSE_MARKER=str(self.pause_marker(run_id)))
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                job,
                first.isoformat(),
                last.isoformat(),
                run_id,
                *(f"{k}={v}" for k, v in (tags or {}).items()),
            ],
            env=env,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.children.append(process)
        return process, run_id

    def pause_marker(self, run_id: str) -> Path:
        return self.root / f"paused-{run_id}"

    @contextmanager
    def configured(self) -> Iterator[None]:
        """This (the test's) process reads the company's config, as a run worker does."""
        with configured(self.config_path):
            os.environ[APP_DB_URL_ENV] = self.database_url
            yield

    def run(
        self, job: str = USAGE_JOB, first: date = FIRST, last: date = LAST, run_id: str | None = None, **tags: str
    ) -> str:
        """Run `job` over `first`..`last` in this process (an operator's re-run, recorded in the
        company's instance, as run `run_id` if given); fails unless it succeeded. Returns the run id."""
        with self.configured(), self.instance() as instance:
            result = run_days(build_definitions(), job, first, last, instance, run_id, **tags)
        assert result.success, failure_messages(result)
        return result.run_id

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the run's whole process group (the run worker and its dbt child): a container
        or machine dying under the run."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def force_terminate(self, run_id: str) -> None:
        """What an operator does for a run whose worker died: the UI's "Terminate" → "Force
        termination" (the run is marked canceled; nothing else is touched)."""
        with self.instance() as instance:
            run = instance.get_run_by_id(run_id)
            if not run.is_finished:
                instance.report_run_canceled(run, message="run worker killed (fault test)")

    def run_daemon_slot_release(self) -> None:
        """What `dagster-daemon`'s run monitoring does once the configured
        `free_slots_after_run_end_seconds` have passed since a run ended: free the slots that
        finished runs still hold (one iteration, after waiting out the shipped delay)."""
        with self.instance() as instance:
            delay = instance.run_monitoring_settings.get("free_slots_after_run_end_seconds")
            assert delay and delay <= 60, "the shipped dagster.yaml frees a dead run's slots"
            time.sleep(delay + 1)
            context = types.SimpleNamespace(instance=instance)
            for _ in execute_concurrency_slots_iteration(context, logging.getLogger("run_monitoring")):
                pass

    def free_pool_slots(self, run_id: str) -> None:
        """The UI's Concurrency page → pool `warehouse` → "Free slots" for a run: releases the
        slots a dead run worker still holds."""
        with self.instance() as instance:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)

    def warehouse_slot_holders(self) -> set[str]:
        """The runs holding a slot of the `warehouse` pool."""
        with self.instance() as instance:
            info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
            return {slot.run_id for slot in info.claimed_slots}

    def blocked_steps(self, run_id: str) -> set[str]:
        """Steps of a run that waited for a slot of a pool (the executor's engine event)."""
        with self.instance() as instance:
            return {
                entry.dagster_event.step_key
                for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                if "blocked by limit for pool" in (entry.dagster_event.message or "")
            }

    def waits_for_the_warehouse(self, run_id: str) -> bool:
        """Whether a run logged that it waits for another run to end (`hold_warehouse`)."""
        with self.instance() as instance:
            return any("waiting for the warehouse" in (entry.user_message or "") for entry in instance.all_logs(run_id))

    def materialized(self, run_id: str) -> set[str]:
        """Assets the run has reported materialized so far."""
        with self.instance() as instance:
            return {
                entry.dagster_event.asset_key.to_user_string()
                for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            }

    def step_events(self, run_id: str) -> dict[str, dict[str, float]]:
        """Per step of a run: the timestamps of its STEP_START and its end (success or failure)."""
        steps: dict[str, dict[str, float]] = {}
        with self.instance() as instance:
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is None or event.step_key is None:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    steps.setdefault(event.step_key, {})["start"] = entry.timestamp
                elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                    steps.setdefault(event.step_key, {})["end"] = entry.timestamp
                    steps[event.step_key]["outcome"] = event.event_type_value
        return steps


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT_SECONDS) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"run did not finish within {timeout} s:\n{output[-6000:]}")
    return output


def wait_until(condition: Callable[[], bool], what: str, process: subprocess.Popen | None = None) -> None:
    """Poll `condition` until it holds; fails if `process` ends first or after RUN_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not condition():
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}:\n{output[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")
        time.sleep(0.05)


def make_company(root: Path, database_url: str) -> Iterator[Company]:
    """A company in `root` over a schema of its own in the session's PostgreSQL database."""
    schema = f"faults_{uuid.uuid4().hex[:8]}"
    company = Company(root, database_url, schema)
    company.sql(f"CREATE SCHEMA {schema}")
    company.sql(f"CREATE TABLE {schema}.fault_control (hold boolean NOT NULL)")
    company.sql(f"INSERT INTO {schema}.fault_control VALUES (false)")
    company.sql(
        f"""CREATE FUNCTION {schema}.fault_pause() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            FOR waited IN 1..3000 LOOP
                EXIT WHEN NOT (SELECT hold FROM {schema}.fault_control);
                PERFORM pg_sleep(0.1);
            END LOOP;
            RETURN true;
        END $$"""
    )
    company.sql(
        f"CREATE TABLE {schema}.accounts (id bigint PRIMARY KEY, external_id text, name text, updated_at timestamptz)"
    )
    company.sql(
        f"INSERT INTO {schema}.accounts VALUES (:id, :external_id, :name, timestamptz '2026-08-20 12:00:00+00')",
        [{"id": n + 1, "external_id": a.external_id, "name": a.name} for n, a in enumerate(ACCOUNTS)],
    )
    company.sql(
        f"CREATE TABLE {schema}.usage_records (id bigint PRIMARY KEY, account_id bigint, metric text,"
        " quantity numeric(38, 9), occurred_at timestamptz, properties jsonb)"
    )
    company.store_events(source_events())
    root.mkdir(parents=True, exist_ok=True)
    company.config_path.write_text(BILLING_YAML.format(url_env=APP_DB_URL_ENV, schema=schema))
    company.dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", company.dagster_home / "dagster.yaml")
    try:
        yield company
    finally:
        for process in company.children:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        company.sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def company(tmp_path_factory, postgres_url) -> Iterator[Company]:
    """One company for every fault test of a worker, its window loaded once (customers,
    contracts and usage: `billing_sync`). Each fault test ends with a re-run and the invariants
    over the whole window, so they hold whichever test ran before."""
    for company in make_company(tmp_path_factory.mktemp("company"), postgres_url):
        company.run(SYNC_JOB)
        yield company


USAGE_MODELS = ["billing/usage_events", "billing/daily_usage_totals"]
"""The tables a usage run rebuilds: their dbt tests must have run and passed."""


def assert_billing_invariants(company: Company, run_id: str, checked: Iterable[str] = USAGE_MODELS) -> None:
    """After `run_id` succeeded: every source event of the window is counted exactly once with
    its values, the daily marts equal the source's totals, and the run's dbt tests passed."""
    expected = company.expected()
    assert_usage_accounted(company.warehouse, expected)
    assert_daily_sums_match(company.warehouse, expected)
    with company.instance() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        assert_dbt_checks_passed(instance, run_id, assets=checked)
