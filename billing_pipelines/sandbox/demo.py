"""`make demo`: the historical migration and a sync of the sandbox company, end to end.

1. generate the sandbox company (SQLite app database, CSV files in the landing inboxes, and the
   usage it keeps in Snowflake and BigQuery);
2. accept the landing files, as the landing sensor does (archive them, note their days);
3. start the stand-ins of its other systems (`sandbox/standins.py`): the Snowflake and BigQuery
   warehouses, seeded with their usage, and Stripe, HubSpot and Google Sheets, filled with the
   same accounts and subscriptions as those systems would hold them;
4. run `billing_sync` over every day since `history_start` as ONE run (the migration);
5. run it again for the latest days (the contemporary sync; the counts must not move);
6. print per-table counts against what the generator and the stand-ins say is right, usage per
   source, quarantine by reason, the SaaS sources' raw tables and the requests each sync made of
   them, customers known to both Stripe and HubSpot, and the elapsed time. Both runs are stored in the Dagster instance
   (`DAGSTER_HOME`), so `make dev` shows them.

The demo owns its sandbox: it starts from an empty warehouse and landing archive, but only
where the sandbox created them (a `.sandbox` marker file), never a folder of real data.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.defs.sync.schedules import sync_window
from billing_pipelines.lib.raw_assets import raw_schema
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.lib.sql_queries import resolve_url
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines.sandbox.saas_expected import SaasExpected, saas_expected
from billing_pipelines.sandbox.standins import Served, generated_company, running_standins, sandbox_secrets

SANDBOX_MARKER = ".sandbox"
DEMO_DAYS = 92
WAREHOUSE_USAGE_EVENTS = 50_000
"""Usage records the sandbox company keeps in each of its warehouses (Snowflake, BigQuery)."""
CANONICAL_TABLES = ("customers", "contracts", "contract_items", "usage_events", "billable_usage_daily", "quarantine")


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


def run_sync(first: date, last: date, purpose: str) -> float:
    """Run `billing_sync` for the days `first`..`last` as one run in the Dagster instance."""
    from billing_pipelines.definitions import defs  # loading builds the dbt manifest if needed

    started = time.perf_counter()
    result = run_days(defs, SYNC_JOB, first, last, DagsterInstance.get(), **{"billing/purpose": purpose})
    if not result.success:
        sys.exit(f"{purpose} failed (run {result.run_id}):\n{failure_messages(result)}")
    return time.perf_counter() - started


def api_requests(served: dict[str, Served]) -> dict[str, int]:
    """HTTP requests each SaaS stand-in answered since the last call (its log is emptied)."""
    counts = {}
    for source, running in served.items():
        if running.api is not None:
            counts[source] = running.api.requests_to("/")
            running.api.reset_log()
    return counts


@dataclass(frozen=True)
class Loaded:
    """What the warehouse holds after the demo: rows per canonical table, canonical usage events
    per source, and quarantined rows per reason code."""

    tables: dict[str, int]
    usage_by_source: dict[str, int]
    quarantine_by_reason: dict[str, int]
    raw_api_tables: dict[str, int]
    with_stripe_and_hubspot_ids: int


def warehouse_counts(config: BillingConfig) -> Loaded:
    """The counts the demo reports, read from the warehouse."""
    schemas = [raw_schema(name) for name in config.enabled_api_sources]
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        raw_tables = warehouse.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE list_contains(?, table_schema) AND table_name NOT LIKE '\\_dlt\\_%' ESCAPE '\\'"
            " ORDER BY 1, 2",
            [schemas],
        ).fetchall()
        return Loaded(
            tables={t: warehouse.execute(f"SELECT count(*) FROM billing.{t}").fetchone()[0] for t in CANONICAL_TABLES},
            usage_by_source=dict(
                warehouse.execute("SELECT source_system, count(*) FROM billing.usage_events GROUP BY 1").fetchall()
            ),
            quarantine_by_reason=dict(
                warehouse.execute(
                    "SELECT split_part(reason, ':', 1) AS code, count(*) FROM billing.quarantine GROUP BY code"
                ).fetchall()
            ),
            raw_api_tables={
                f"{schema}.{table}": warehouse.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()[0]
                for schema, table in raw_tables
            },
            with_stripe_and_hubspot_ids=warehouse.execute(
                "SELECT count(*) FROM billing.customers"
                " WHERE stripe_customer_id IS NOT NULL AND hubspot_company_id IS NOT NULL"
            ).fetchone()[0],
        )


def _compare(title: str, loaded: dict[str, int], wanted: dict[str, int | None], label=str) -> bool:
    """Print one section (rows next to the expected count, where there is one); True if all match."""
    print(f"\n{title:<44}{'rows':>12}{'expected':>12}")
    ok = True
    for name in [*wanted, *sorted(loaded.keys() - wanted.keys())]:
        rows, target = loaded.get(name, 0), wanted.get(name)
        ok &= target is None or rows == target
        mark = "" if target is None else ("  ok" if rows == target else "  MISMATCH")
        print(f"{label(name):<44}{rows:>12,}{'' if target is None else f'{target:>12,}'}{mark}")
    return ok


def report(loaded: Loaded, expected: dict, saas: SaasExpected, requests: dict[str, tuple[int, int]]) -> bool:
    """Print the loaded counts next to the generator's and the stand-ins'; True when every
    expected count matches."""
    counts = Counter(expected["counts"]) + saas.counts
    quarantine = Counter(expected["quarantine"]) + saas.quarantine
    tables = {table: counts.get(table) for table in CANONICAL_TABLES}
    tables["quarantine"] = sum(quarantine.values())
    sources = {key.removeprefix("usage_events_"): n for key, n in counts.items() if key.startswith("usage_events_")}
    reasons = {code: quarantine.get(code, 0) for code in sorted({*quarantine, *loaded.quarantine_by_reason})}
    both = set.intersection(*saas.keyed.values()) if len(saas.keyed) > 1 else set()
    ok = all(
        [
            _compare("table", loaded.tables, tables, label=lambda t: f"billing.{t}"),
            _compare("usage events by source", loaded.usage_by_source, sources),
            _compare("quarantine reason", loaded.quarantine_by_reason, reasons),
            _compare("SaaS sources: raw tables", loaded.raw_api_tables, {}),
            _compare(
                "SaaS identity",
                {"customers with Stripe and HubSpot ids": loaded.with_stripe_and_hubspot_ids},
                {"customers with Stripe and HubSpot ids": len(both)},
            ),
        ]
    )
    print(f"\n{'API requests per sync':<44}{'migration':>12}{'sync':>12}")
    for source, (first, second) in requests.items():
        print(f"{source:<44}{first:>12,}{second:>12,}")
    return ok


def main() -> None:
    apply_process_settings()
    config = current_config()
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    first, last = demo_days(config, today)

    reset_sandbox(config)
    print(f"Generating the sandbox company: {first} .. {last} …")
    expected = generate_company(
        app_db_file(config),
        config.landing_path,
        end_date=last,
        days=(last - first).days + 1,
        warehouse_usage_events=WAREHOUSE_USAGE_EVENTS,
    )
    landed = accept_inbox(config.landing_path, datetime.now(UTC))
    print(f"Accepted {len(landed)} landing files ({sum(f.reason is not None for f in landed)} rejected whole).")

    sandbox_secrets(config)
    print("Starting the stand-ins of the company's other systems …")
    with running_standins(config, seed="always") as served:
        for running in served.values():
            print(f"  {running.standin.source} ({running.standin.kind}): {running.seeded or 'nothing seeded'}")
        migration = run_sync(config.history_start, last, "historical_migration")
        print(f"Historical migration {config.history_start} .. {last}: one run, {migration:.1f} s")
        migration_requests = api_requests(served)
        sync_first, sync_last = sync_window(today, config)
        sync = run_sync(sync_first, sync_last, "contemporary_sync")
        print(f"Contemporary sync {sync_first} .. {sync_last}: {sync:.1f} s")
        sync_requests = api_requests(served)
        apis = {source: running.api for source, running in served.items() if running.api is not None}
        saas = saas_expected(config, apis, app_customer_ids(config))

    requests = {source: (migration_requests[source], sync_requests[source]) for source in apis}
    ok = report(warehouse_counts(config), expected, saas, requests)
    print(f"\nElapsed: {time.perf_counter() - started:.1f} s. Warehouse: {config.warehouse_path}")
    print("Open the Dagster UI on the same data with `make dev`.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
