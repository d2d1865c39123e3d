"""`make demo`: the historical migration and a sync of the sandbox company, end to end.

1. generate the sandbox company (SQLite app database, CSV files in the landing inboxes, and the
   usage it keeps in Snowflake and BigQuery);
2. accept the landing files, as the landing sensor does (archive them, note their days);
3. start the stand-ins of its other systems (`sandbox/standins.py`): the Snowflake and BigQuery
   warehouses, seeded with their usage, and Stripe, HubSpot and Google Sheets, filled with the
   same accounts and subscriptions as those systems would hold them;
4. run `billing_sync` over every day since `history_start` as ONE run (the migration);
5. run it again for the latest days (the contemporary sync; the counts must not move);
6. print the summary (`demo_report.py`): per-table counts against what the generator and the
   stand-ins say is right, usage per source, quarantine by reason, the SaaS sources' raw tables
   and the requests each sync made of them, and the customers known to both Stripe and HubSpot.

The console gets a line per stage (with a progress bar while a run works) and the summary;
everything else (Dagster's event log, dbt's and dlt's output) goes to `demo.log` beside the
warehouse, whose path is printed first (`console.py`). Both runs are stored in the Dagster
instance (`DAGSTER_HOME`), so `make dev` shows them.

The demo owns its sandbox: it starts from an empty warehouse and landing archive, but only
where the sandbox created them (a `.sandbox` marker file), never a folder of real data.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dagster import DagsterInstance

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.defs.sync.schedules import sync_window
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.lib.sql_queries import resolve_url
from billing_pipelines.sandbox.console import Console, Stage, logging_to, run_progress
from billing_pipelines.sandbox.demo_report import summary, warehouse_counts
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines.sandbox.saas_expected import saas_expected
from billing_pipelines.sandbox.standins import Served, generated_company, running_standins, sandbox_secrets

SANDBOX_MARKER = ".sandbox"
DEMO_LOG = "demo.log"
"""The demo's full log, beside the warehouse."""
STAGES = 5
DEMO_DAYS = 92
WAREHOUSE_USAGE_EVENTS = 50_000
"""Usage records the sandbox company keeps in each of its warehouses (Snowflake, BigQuery)."""


def reset_sandbox(config: BillingConfig) -> None:
    """Empty the warehouse and the landing zone, if (and only if) the sandbox made them."""
    warehouse_marker = config.warehouse_path.with_name(config.warehouse_path.name + SANDBOX_MARKER)
    landing_marker = config.landing_path / SANDBOX_MARKER
    if config.warehouse_path.exists() and not warehouse_marker.exists():
        sys.exit(f"{config.warehouse_path} was not made by the demo; point billing.yaml elsewhere for the demo")
    if config.landing_path.exists() and any(config.landing_path.iterdir()) and not landing_marker.exists():
        sys.exit(f"{config.landing_path} holds files the demo did not put there; point billing.yaml elsewhere")
    shutil.rmtree(config.landing_path, ignore_errors=True)
    for path in config.warehouse_path.parent.glob(f"{config.warehouse_path.name}*"):
        path.unlink()
    config.landing_path.mkdir(parents=True)
    config.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    landing_marker.touch()
    warehouse_marker.touch()


def app_db_file(config: BillingConfig) -> Path:
    return Path(resolve_url(config.sources["app_db"].url, config.base_dir).database)


def app_customer_ids(config: BillingConfig) -> set[str]:
    """The company's own ids of the app's customers (what the SaaS systems may carry as a key)."""
    company = generated_company(config)
    return {account.profile.external_id for account in company[0]} if company else set()


def demo_days(config: BillingConfig, today: date) -> tuple[date, date]:
    """The generated history: up to DEMO_DAYS complete days, never before history_start."""
    last = today - timedelta(days=1)
    return max(config.history_start, last - timedelta(days=DEMO_DAYS - 1)), last


def run_sync(stage: Stage, first: date, last: date, purpose: str) -> None:
    """Run `billing_sync` for the days `first`..`last` as one run in the Dagster instance, its
    progress drawn on `stage`; a failed run ends the demo with what failed."""
    from billing_pipelines.definitions import build_definitions  # builds the dbt manifest if needed

    run_id = str(uuid.uuid4())
    with run_progress(stage, run_id):
        result = run_days(
            build_definitions(),
            SYNC_JOB,
            first,
            last,
            DagsterInstance.get(),
            run_id=run_id,
            **{"billing/purpose": purpose},
        )
    if not result.success:
        stage.done("FAILED")
        sys.exit(f"{purpose} failed (run {result.run_id}):\n{failure_messages(result)}")
    stage.done(f"one run, {(last - first).days + 1} days")


def api_requests(served: dict[str, Served]) -> dict[str, int]:
    """HTTP requests each SaaS stand-in answered since the last call (its log is emptied)."""
    counts = {}
    for source, running in served.items():
        if running.api is not None:
            counts[source] = running.api.requests_to("/")
            running.api.reset_log()
    return counts


def main() -> None:
    apply_process_settings()
    config = current_config()
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    first, last = demo_days(config, today)
    log_file = config.warehouse_path.parent / DEMO_LOG
    print(f"billing_pipelines demo: the sandbox company, migrated and synced. Full log: {log_file}", flush=True)
    with logging_to(log_file) as console:
        ok, table = demo(config, console, first, last, today)
        console.line(f"\nElapsed {time.perf_counter() - started:.0f} s. Warehouse: {config.warehouse_path}.")
        console.line("Open the Dagster UI on the same data with `make dev`.\n")
        console.line(table)
    sys.exit(0 if ok else 1)


def demo(config: BillingConfig, console: Console, first: date, last: date, today: date) -> tuple[bool, str]:
    """The demo's stages; the summary table, and whether every count is as expected."""
    stage = console.stage(1, STAGES, f"Generating the sandbox company, {first} .. {last}")
    reset_sandbox(config)
    expected = generate_company(
        app_db_file(config),
        config.landing_path,
        end_date=last,
        days=(last - first).days + 1,
        warehouse_usage_events=WAREHOUSE_USAGE_EVENTS,
    )
    stage.done(f"{expected['counts']['customers']:,} customers, {expected['counts']['usage_events']:,} usage events")

    stage = console.stage(2, STAGES, "Accepting the landing files, as the landing sensor does")
    landed = accept_inbox(config.landing_path, datetime.now(UTC), config.event_time_range)
    stage.done(f"{len(landed)} files, {sum(f.reason is not None for f in landed)} rejected whole")

    sandbox_secrets(config)
    stage = console.stage(3, STAGES, "Starting the stand-ins of the company's other systems")
    with running_standins(config, seed="always") as served:
        stage.done(", ".join(served))
        sync_first, sync_last = sync_window(today, config)
        migration = console.stage(4, STAGES, f"Historical migration {config.history_start} .. {last}")
        run_sync(migration, config.history_start, last, "historical_migration")
        migration_requests = api_requests(served)
        sync = console.stage(5, STAGES, f"Contemporary sync {sync_first} .. {sync_last}")
        run_sync(sync, sync_first, sync_last, "contemporary_sync")
        sync_requests = api_requests(served)
        apis = {source: running.api for source, running in served.items() if running.api is not None}
        saas = saas_expected(config, apis, app_customer_ids(config))

    requests = {source: (migration_requests[source], sync_requests[source]) for source in apis}
    table, ok = summary(warehouse_counts(config), expected, saas, requests)
    return ok, table


if __name__ == "__main__":
    main()
