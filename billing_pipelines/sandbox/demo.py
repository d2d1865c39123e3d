"""`make demo`: the historical migration and a sync of the sandbox company, end to end.

1. generate the sandbox company (SQLite app database + CSV files in the landing inboxes);
2. accept the landing files, as the landing sensor does (archive them, note their days);
3. run `billing_sync` over every day since `history_start` as ONE run (the migration);
4. run it again for the latest days (the contemporary sync; the counts must not move);
5. print per-table counts against what the generator says is right, quarantine by reason,
   and the elapsed time. Both runs are stored in the Dagster instance (`DAGSTER_HOME`), so
   `make dev` shows them.

The demo owns its sandbox: it starts from an empty warehouse and landing archive, but only
where the sandbox created them (a `.sandbox` marker file), never a folder of real data.
"""

from __future__ import annotations

import shutil
import sys
import time
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

SANDBOX_MARKER = ".sandbox"
DEMO_DAYS = 92
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


def warehouse_counts(config: BillingConfig) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per canonical table, and quarantined rows per reason code."""
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        counts = {t: warehouse.execute(f"SELECT count(*) FROM billing.{t}").fetchone()[0] for t in CANONICAL_TABLES}
        reasons = dict(
            warehouse.execute(
                "SELECT split_part(reason, ':', 1) AS code, count(*) FROM billing.quarantine GROUP BY code ORDER BY code"
            ).fetchall()
        )
    return counts, reasons


def report(counts: dict[str, int], reasons: dict[str, int], expected: dict) -> bool:
    """Print the loaded counts next to the generator's; True when every expected count matches."""
    wanted = {**expected["counts"], "quarantine": sum(expected["quarantine"].values())}
    print(f"\n{'table':<28}{'rows':>12}{'expected':>12}")
    ok = True
    for table, rows in counts.items():
        target = wanted.get(table)
        ok &= target is None or rows == target
        mark = "" if target is None else ("  ok" if rows == target else "  MISMATCH")
        print(f"billing.{table:<20}{rows:>12,}{'' if target is None else f'{target:>12,}'}{mark}")
    print(f"\n{'quarantine reason':<28}{'rows':>12}{'expected':>12}")
    for code in sorted(set(reasons) | set(expected["quarantine"])):
        rows, target = reasons.get(code, 0), expected["quarantine"].get(code, 0)
        ok &= rows == target
        print(f"{code:<28}{rows:>12,}{target:>12,}{'  ok' if rows == target else '  MISMATCH'}")
    return ok


def main() -> None:
    apply_process_settings()
    config = current_config()
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    first, last = demo_days(config, today)

    reset_sandbox(config)
    print(f"Generating the sandbox company: {first} .. {last} …")
    expected = generate_company(app_db_file(config), config.landing_path, end_date=last, days=(last - first).days + 1)
    landed = accept_inbox(config.landing_path, datetime.now(UTC))
    print(f"Accepted {len(landed)} landing files ({sum(f.reason is not None for f in landed)} rejected whole).")

    migration = run_sync(config.history_start, last, "historical_migration")
    print(f"Historical migration {config.history_start} .. {last}: one run, {migration:.1f} s")
    sync_first, sync_last = sync_window(today, config)
    sync = run_sync(sync_first, sync_last, "contemporary_sync")
    print(f"Contemporary sync {sync_first} .. {sync_last}: {sync:.1f} s")

    counts, reasons = warehouse_counts(config)
    ok = report(counts, reasons, expected)
    print(f"\nElapsed: {time.perf_counter() - started:.1f} s. Warehouse: {config.warehouse_path}")
    print("Open the Dagster UI on the same data with `make dev`.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
