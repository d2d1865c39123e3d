"""Benchmark: end-to-end historical load of the demo's usage events (`make bench`).

Generates the demo company into `bench/.work/`, runs the one-run historical migration
(`billing_sync` over every day since history_start: dlt extract/load from the SQLite app
database and the landing CSV files, then every dbt model and test) and reports usage events
per second next to DuckDB's own `read_csv` of the same events, measured in the same run on the
same machine, plus the peak memory of the pipeline (this process and its dbt subprocesses).
Results are appended to `bench/RESULTS.md`.
"""

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.memory import PeakMemory
from billing_pipelines.config import DEFAULT_CONFIG_PATH, current_config
from billing_pipelines.defs.landing.archive import ARCHIVE, accept_inbox, landed_files
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.sandbox.demo import DEMO_DAYS, app_db_file

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
RESULTS = BENCH / "RESULTS.md"
SCALE_HEADING = "## Scale"


def prepare_workspace() -> None:
    """A private copy of billing.yaml in bench/.work, so every path it names lands there."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "billing.yaml").write_text(DEFAULT_CONFIG_PATH.read_text())
    os.environ["BILLING_CONFIG"] = str(WORK / "billing.yaml")
    os.environ.pop("BILLING_WAREHOUSE", None)
    current_config.cache_clear()


def same_events_as_csv(app_db: Path, landing_root: Path) -> list[Path]:
    """The benchmark's usage events as CSV files: the app database's exported once (not timed)
    plus the landing files as dropped."""
    export = WORK / "app_db_usage.csv"
    with sqlite3.connect(app_db) as connection:
        cursor = connection.execute(
            "SELECT id, account_id, metric, quantity, occurred_at, properties FROM usage_records"
        )
        names = [column[0] for column in cursor.description]
        table = pa.Table.from_pylist([dict(zip(names, row)) for row in cursor.fetchall()])
    pacsv.write_csv(table, export)
    return [export, *(landing_root / f.stored_as for f in landed_files(landing_root, ARCHIVE, "usage_events"))]


def duckdb_read_csv_rows_per_second(files: list[Path]) -> tuple[int, float]:
    """DuckDB's own CSV reader into a table: the floor for loading these events on this machine."""
    target = WORK / "duckdb_baseline.duckdb"
    with duckdb.connect(str(target)) as connection:
        started = time.perf_counter()
        total = 0
        for number, path in enumerate(files):
            connection.execute(
                f"CREATE TABLE t{number} AS SELECT * FROM read_csv(?, all_varchar = true, ignore_errors = true)",
                [str(path)],
            )
            total += connection.execute(f"SELECT count(*) FROM t{number}").fetchone()[0]
        elapsed = time.perf_counter() - started
    return total, total / elapsed


def main() -> None:
    apply_process_settings()
    prepare_workspace()
    config = current_config()
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = max(config.history_start, last - timedelta(days=DEMO_DAYS - 1))
    # Generated in a child process, so this process's memory is the pipeline's alone.
    app_db = app_db_file(config)
    subprocess.run(
        [sys.executable, "-m", "billing_pipelines.sandbox.generate", "--app-db", str(app_db),
         "--landing", str(config.landing_path), "--end-date", last.isoformat(), "--days", str((last - first).days + 1)],
        check=True,
    )  # fmt: skip
    expected = json.loads(app_db.with_name("expected.json").read_text())
    accept_inbox(config.landing_path, datetime.now(UTC), config.event_time_range)
    events = expected["counts"]["usage_events"]

    from billing_pipelines.definitions import build_definitions

    defs = build_definitions()
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = run_days(defs, SYNC_JOB, config.history_start, last, dg.DagsterInstance.ephemeral())
        elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"migration failed:\n{failure_messages(result)}")
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        loaded = warehouse.execute("SELECT count(*) FROM billing.usage_events").fetchone()[0]
    if loaded != events:
        raise SystemExit(f"loaded {loaded} usage events, expected {events}: not a valid benchmark run")

    baseline_rows, baseline_rate = duckdb_read_csv_rows_per_second(
        same_events_as_csv(app_db_file(config), config.landing_path)
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {platform.machine()}, {psutil.cpu_count()} cores | "
        f"{events:,} | {elapsed:.1f} s | {events / elapsed:,.0f} | {baseline_rate:,.0f} ({baseline_rows:,} rows) | "
        f"{memory.peak / 2**20:,.0f} MiB |"
    )
    print("\n" + row)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\n"
            "End-to-end historical load of the demo's usage events (`make bench`): one `billing_sync` run over\n"
            "every day since history_start (dlt extract/load from SQLite and CSV, every dbt model and test),\n"
            "next to DuckDB's own `read_csv` of the same events in the same run. Peak memory is the resident\n"
            "memory of the pipeline process and its dbt subprocesses.\n\n"
            "| when (UTC) | machine | usage events | end-to-end | events/s end-to-end | DuckDB read_csv rows/s | peak memory |\n"
            "|---|---|---|---|---|---|---|\n"
        )
    RESULTS.write_text(with_end_to_end_row(RESULTS.read_text(), row))


def with_end_to_end_row(results: str, row: str) -> str:
    """RESULTS.md with `row` added to the end-to-end table, which comes before the scale section."""
    head, scale_heading, scale = results.partition(SCALE_HEADING)
    return f"{head.rstrip()}\n{row}\n" + (f"\n{scale_heading}{scale}" if scale_heading else "")


if __name__ == "__main__":
    main()
