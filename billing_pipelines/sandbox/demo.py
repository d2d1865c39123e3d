"""`make demo`: the historical migration and a sync of the sandbox company, end to end.

1. generate the sandbox company (SQLite app database, CSV files in the landing inboxes, and the
   usage it keeps in Snowflake and BigQuery);
2. accept the landing files, as the landing sensor does (archive them, note their days);
3. start the Snowflake and BigQuery stand-ins and seed them (`sandbox/standins.py`);
4. run `billing_sync` over every day since `history_start` as ONE run (the migration);
5. run it again for the latest days (the contemporary sync; the counts must not move);
6. print per-table counts against what the generator says is right, usage per source, quarantine
   by reason, and the elapsed time. Both runs are stored in the Dagster instance
   (`DAGSTER_HOME`), so `make dev` shows them.

The demo owns its sandbox: it starts from an empty warehouse and landing archive, but only
where the sandbox created them (a `.sandbox` marker file), never a folder of real data.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.defs.sync.schedules import sync_window
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.lib.sql_queries import resolve_url
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines.sandbox.standins import running_standins, sandbox_secrets

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


@dataclass(frozen=True)
class Loaded:
    """What the warehouse holds after the demo: rows per canonical table, canonical usage events
    per source, and quarantined rows per reason code."""

    tables: dict[str, int]
    usage_by_source: dict[str, int]
    quarantine_by_reason: dict[str, int]


def warehouse_counts(config: BillingConfig) -> Loaded:
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
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
        )


def _compare(title: str, loaded: dict[str, int], wanted: dict[str, int | None], label=str) -> bool:
    """Print one section (rows next to the expected count, where there is one); True if all match."""
    print(f"\n{title:<34}{'rows':>12}{'expected':>12}")
    ok = True
    for name in [*wanted, *sorted(loaded.keys() - wanted.keys())]:
        rows, target = loaded.get(name, 0), wanted.get(name)
        ok &= target is None or rows == target
        mark = "" if target is None else ("  ok" if rows == target else "  MISMATCH")
        print(f"{label(name):<34}{rows:>12,}{'' if target is None else f'{target:>12,}'}{mark}")
    return ok


def report(loaded: Loaded, expected: dict) -> bool:
    """Print the loaded counts next to the generator's; True when every expected count matches."""
    counts = expected["counts"]
    tables = {table: counts.get(table) for table in CANONICAL_TABLES}
    tables["quarantine"] = sum(expected["quarantine"].values())
    sources = {key.removeprefix("usage_events_"): n for key, n in counts.items() if key.startswith("usage_events_")}
    reasons = {
        code: expected["quarantine"].get(code, 0)
        for code in sorted({*expected["quarantine"], *loaded.quarantine_by_reason})
    }
    return all(
        [
            _compare("table", loaded.tables, tables, label=lambda t: f"billing.{t}"),
            _compare("usage events by source", loaded.usage_by_source, sources),
            _compare("quarantine reason", loaded.quarantine_by_reason, reasons),
        ]
    )


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

    sandbox_secrets()
    print("Starting the Snowflake and BigQuery stand-ins …")
    with running_standins(config, seed="always") as seeded:
        print("Seeded " + ", ".join(f"{source}: {rows:,} usage rows" for source, rows in seeded.items()) + ".")
        migration = run_sync(config.history_start, last, "historical_migration")
        print(f"Historical migration {config.history_start} .. {last}: one run, {migration:.1f} s")
        sync_first, sync_last = sync_window(today, config)
        sync = run_sync(sync_first, sync_last, "contemporary_sync")
        print(f"Contemporary sync {sync_first} .. {sync_last}: {sync:.1f} s")

    ok = report(warehouse_counts(config), expected)
    print(f"\nElapsed: {time.perf_counter() - started:.1f} s. Warehouse: {config.warehouse_path}")
    print("Open the Dagster UI on the same data with `make dev`.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
