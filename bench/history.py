"""Benchmark: a PostgreSQL usage history loaded at bulk speed (`python -m bench.history`).

For each size (1M and 10M usage events over 92 days by default) a scratch PostgreSQL database
`billing_bench_history_<events>` gets a `usage_events` table in the raw contract's columns
(bigint id, text customer and metric, numeric(20,9) quantity, timestamptz event time, jsonb
properties), generated server-side with `generate_series`; then, each in its own process:

(a) ConnectorX's own read of the window to Arrow (`SELECT *` with the window's WHERE, record
    batches of the run's batch size): the speed of the wire, the reference rate;
(a') the `sql` source's own bulk reader (`lib/bulk_reads.py`) on the same window, without dlt:
    how much of the raw layer's time is reading;
(b) the raw layer: the `raw_app_db/usage_events` asset materialized with `dg.materialize` over
    a partition range covering every day (dlt → DuckDB `raw_app_db.usage_events`);
(c) dlt's default: `sql_table` with its default SQLAlchemy backend into DuckDB, on the first
    `--dlt-default-rows` events of the window only (a 1M-row window; the whole 10M takes ~40 min);
(d) through canonical: the `usage_by_day` job (raw load, every dbt model and test downstream)
    over the same range with `run_days`, into `billing.usage_events`; the config names the
    source `app_db`, the source the dbt project stages, with the landing zone off.

Rates are rows over the time of the operation itself (the read, `dg.materialize`, `run_days`);
peak memory is the summed resident memory of the measured process and its children (dbt).
Counts are checked (raw and canonical must hold every event), so a fast wrong run is not a
result. The scratch databases are dropped afterwards. Adds a run to the "Postgres history
load" section of `bench/RESULTS.md`.

    python -m bench.history                          # 1M and 10M
    python -m bench.history --events 1000000         # one size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import sqlalchemy as sa

from bench.bytecode import cached_bytecode_env, compile_bytecode
from bench.memory import Measured, measure_command
from bench.results import record_run
from billing_pipelines.config import PROJECT_ROOT, memory_size_mib
from billing_pipelines.lib.memory import engine_limits
from billing_pipelines.lib.runtime import TELEMETRY_OFF
from billing_pipelines.lib.windows import Window

BENCH = Path(__file__).resolve().parent
SECTION = "## Postgres history load"
ADMIN_URL = os.environ.get("BILLING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
URL_ENV = "BENCH_HISTORY_DATABASE_URL"
SOURCE = "app_db"
TABLE = "usage_events"
CURSOR = "event_timestamp"
LAST_DAY = date(2026, 10, 31)
MEMORY_BUDGET = "2GiB"
PARTS = ("connectorx", "bulk_reader", "raw", "dlt_default", "canonical")
PART_LABELS = {
    "connectorx": "ConnectorX read to Arrow",
    "bulk_reader": "the `sql` source's bulk reader alone (ADBC, to Arrow)",
    "raw": "raw layer (`raw_app_db/usage_events`)",
    "dlt_default": "dlt default backend (SQLAlchemy)",
    "canonical": "through canonical (`usage_by_day`, dbt)",
}
TARGETS = {"raw": 0.6, "canonical": 0.4}
"""Least share of ConnectorX's rate each load must reach."""
MEMORY_GROWTH_TARGET = 1.5

GENERATE_EVENTS = """
CREATE TABLE usage_events AS
SELECT g AS event_id,
       'CUS-' || lpad((g % 5000)::text, 5, '0') AS customer_external_id,
       (ARRAY['api_calls', 'storage_gb_hours', 'seats', 'emails_sent'])[1 + (g % 4)::int] AS metric,
       (((g * 7919) % 100000) / 1000.0)::numeric(20, 9) AS quantity,
       CAST(:first AS timestamptz) + (g - 1) * (CAST(:span AS interval) / :events) AS event_timestamp,
       jsonb_build_object('region', (ARRAY['eu', 'us', 'apac'])[1 + (g % 3)::int], 'request', g) AS properties
FROM generate_series(1::bigint, :events) AS g;
ALTER TABLE usage_events ADD PRIMARY KEY (event_id);
ANALYZE usage_events;
"""


@dataclass(frozen=True)
class History:
    """One size of the benchmark: its scratch database and the days its events cover."""

    events: int
    days: int

    @property
    def database(self) -> str:
        return f"billing_bench_history_{self.events}"

    @property
    def first_day(self) -> date:
        return LAST_DAY - timedelta(days=self.days - 1)

    @property
    def window(self) -> Window:
        return Window.for_days(self.first_day, LAST_DAY)

    def subset_window(self, rows: int) -> Window:
        """The window holding the first `rows` events (all of them when there are fewer)."""
        whole = self.window
        return Window(whole.start, whole.start + (whole.end - whole.start) * min(rows / self.events, 1))

    @property
    def workdir(self) -> Path:
        return BENCH / ".work" / f"history-{self.events}"


@dataclass(frozen=True)
class PartResult:
    part: str
    rows: int
    seconds: float
    process: Measured

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def database_url(history: History) -> str:
    return sa.make_url(ADMIN_URL).set(database=history.database).render_as_string(hide_password=False)


def create_history(history: History) -> float:
    """The scratch database with its events, made server-side; seconds it took."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{history.database}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{history.database}"'))
    admin.dispose()
    engine = sa.create_engine(database_url(history))
    started = time.perf_counter()
    with engine.begin() as connection:
        for statement in filter(str.strip, GENERATE_EVENTS.split(";")):
            connection.execute(
                sa.text(statement),
                {"first": history.window.start, "span": f"{history.days} days", "events": history.events},
            )
    engine.dispose()
    return time.perf_counter() - started


def source_rows(history: History, window: Window) -> int:
    """The events of `window` as the source itself counts them."""
    engine = sa.create_engine(database_url(history))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(f"SELECT count(*) FROM {TABLE} WHERE {CURSOR} >= :start AND {CURSOR} < :end"),
            {"start": window.start, "end": window.end},
        ).scalar_one()
    engine.dispose()
    return rows


def drop_history(history: History) -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{history.database}" WITH (FORCE)'))
    admin.dispose()


def billing_yaml(history: History) -> str:
    """The config the loads run with: `app_db` as a `sql` source on the scratch database."""
    return (
        f'history_start: "{history.first_day}"\n'
        f"memory_budget: {MEMORY_BUDGET}\n"
        "warehouse: {path: warehouse.duckdb}\n"
        "landing: {enabled: false}\n"
        "sources:\n"
        f"  {SOURCE}:\n"
        "    kind: sql\n"
        f"    url_env: {URL_ENV}\n"
        "    datasets:\n"
        f"      {TABLE}:\n"
        f"        table: public.{TABLE}\n"
        f"        cursor: {CURSOR}\n"
        "        primary_key: event_id\n"
    )


def part_workspace(history: History, part: str) -> Path:
    """A fresh folder for one measurement: its billing.yaml, warehouse and Dagster home."""
    root = history.workdir / part
    shutil.rmtree(root, ignore_errors=True)
    (root / "dagster_home").mkdir(parents=True)
    (root / "billing.yaml").write_text(billing_yaml(history))
    shutil.copy(PROJECT_ROOT / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    return root


def measure_part(history: History, part: str, dlt_default_rows: int) -> PartResult:
    """Run one measurement in its own process; its rows and time as it reports them, its peak memory."""
    root = part_workspace(history, part)
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLING_")}
    env.update(TELEMETRY_OFF)
    env = cached_bytecode_env(env)
    env |= {
        "BILLING_CONFIG": str(root / "billing.yaml"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        URL_ENV: database_url(history),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    command = [sys.executable, "-m", "bench.history", "--part", part, "--events", str(history.events),
               "--days", str(history.days), "--dlt-default-rows", str(dlt_default_rows)]  # fmt: skip
    log = root / f"{part}.log"
    process = measure_command(command, env, log)
    reported = json.loads(log.read_text().strip().splitlines()[-1])
    return PartResult(part, reported["rows"], reported["seconds"], process)


# --- the measurements, each run in its own process (`--part`) ---------------------------------


def connectorx_read(history: History) -> tuple[int, float]:
    """ConnectorX's read of the window's rows to Arrow record batches."""
    import connectorx

    from billing_pipelines.lib.bulk_reads import driver_uri
    from billing_pipelines.lib.sql_queries import window_sql

    url = sa.make_url(os.environ[URL_ENV])
    window = history.window
    sql = window_sql(None, f"public.{TABLE}", CURSOR, "postgresql", window.start, window.end)
    started = time.perf_counter()
    reader = connectorx.read_sql(driver_uri(url), sql, return_type="arrow_stream", batch_size=batch_rows())
    rows = sum(batch.num_rows for batch in reader)
    return rows, time.perf_counter() - started


def bulk_reader_read(history: History) -> tuple[int, float]:
    """The `sql` source's bulk reader over the window, to Arrow tables of the run's batch size."""
    from billing_pipelines.lib.bulk_reads import bulk_batches
    from billing_pipelines.lib.sql_queries import window_sql

    url = sa.make_url(os.environ[URL_ENV])
    window = history.window
    sql = window_sql(None, f"public.{TABLE}", CURSOR, "postgresql", window.start, window.end)
    started = time.perf_counter()
    rows = sum(table.num_rows for table in bulk_batches(url, sql, batch_rows()))
    return rows, time.perf_counter() - started


def batch_rows() -> int:
    return engine_limits(memory_size_mib(MEMORY_BUDGET)).source_batch_rows


def raw_layer_load(history: History) -> tuple[int, float]:
    """The raw-layer asset over a partition range covering every day, as a backfill runs it."""
    import dagster as dg
    from dagster_dlt import DagsterDltResource

    from billing_pipelines.config import current_config
    from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
    from billing_pipelines.lib.runs import partition_range_tags
    from billing_pipelines.lib.runtime import apply_process_settings
    from billing_pipelines.lib.warehouse import warehouse_for

    apply_process_settings()
    config = current_config()
    assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    started = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=f"raw_{SOURCE}/{TABLE}",
        resources={"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)},
        tags=partition_range_tags(history.first_day, LAST_DAY),
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit("the raw-layer load failed")
    return loaded_rows(config.warehouse_path, f"raw_{SOURCE}.{TABLE}"), seconds


def dlt_default_load(history: History, rows: int) -> tuple[int, float]:
    """dlt's `sql_table` with its default backend over the window of the first `rows` events."""
    import dlt
    from dlt.sources.sql_database import sql_table

    from billing_pipelines.config import current_config
    from billing_pipelines.lib.runtime import apply_process_settings

    apply_process_settings()
    config = current_config()
    window = history.subset_window(rows)
    table = sql_table(
        credentials=os.environ[URL_ENV],
        table=TABLE,
        incremental=dlt.sources.incremental(CURSOR, initial_value=window.start, end_value=window.end),
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt_default",
        destination=dlt.destinations.duckdb(str(config.warehouse_path)),
        dataset_name="raw_dlt_default",
        pipelines_dir=str(config.warehouse_path.parent / ".dlt_pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(table)
    seconds = time.perf_counter() - started
    return loaded_rows(config.warehouse_path, f"raw_dlt_default.{TABLE}"), seconds


def canonical_load(history: History) -> tuple[int, float]:
    """The usage job (raw load, then every dbt model and test downstream) over every day."""
    import dagster as dg

    from billing_pipelines.config import current_config
    from billing_pipelines.definitions import build_definitions
    from billing_pipelines.defs.sync.jobs import USAGE_JOB
    from billing_pipelines.lib.runs import failure_messages, run_days

    config = current_config()
    defs = build_definitions()
    started = time.perf_counter()
    result = run_days(defs, USAGE_JOB, history.first_day, LAST_DAY, dg.DagsterInstance.get())
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the usage job failed:\n{failure_messages(result)}")
    return loaded_rows(config.warehouse_path, "billing.usage_events"), seconds


def loaded_rows(warehouse: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def run_part(part: str, history: History, dlt_default_rows: int) -> None:
    """Measure one part in this process; print its rows and seconds as the last line."""
    if part == "connectorx":
        rows, seconds = connectorx_read(history)
    elif part == "bulk_reader":
        rows, seconds = bulk_reader_read(history)
    elif part == "raw":
        rows, seconds = raw_layer_load(history)
    elif part == "dlt_default":
        rows, seconds = dlt_default_load(history, dlt_default_rows)
    else:
        rows, seconds = canonical_load(history)
    print(json.dumps({"rows": rows, "seconds": seconds}), flush=True)


# --- the run and its report -------------------------------------------------------------------


def run_history(history: History, dlt_default_rows: int) -> dict[str, PartResult]:
    name = f"[{history.events:,} events over {history.days} days]"
    print(f"{name} generating {history.database} …", flush=True)
    seconds = create_history(history)
    print(f"{name} generated in {seconds:.1f} s", flush=True)
    results: dict[str, PartResult] = {}
    try:
        for part in PARTS:
            print(f"{name} {PART_LABELS[part]} …", flush=True)
            result = measure_part(history, part, dlt_default_rows)
            window = history.subset_window(dlt_default_rows) if part == "dlt_default" else history.window
            expected = source_rows(history, window)
            if result.rows != expected:
                raise SystemExit(f"{part}: {result.rows:,} rows, expected {expected:,}: not a valid benchmark run")
            results[part] = result
            print(
                f"{name} {part}: {result.rows:,} rows in {result.seconds:.1f} s ({result.rate:,.0f} rows/s), "
                f"peak {result.process.peak_mib:,.0f} MiB",
                flush=True,
            )
    finally:
        drop_history(history)
    return results


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}×"


def results_section(runs: dict[int, dict[str, PartResult]]) -> str:
    """The run's table and the ratios the targets are stated in."""
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    machine = f"{platform.machine()}, {psutil.cpu_count()} cores"
    lines = [
        f"\n### {when} UTC, {machine}, memory budget {MEMORY_BUDGET}\n",
        "| usage events | measured | rows | time | rows/s | vs ConnectorX | peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for events, parts in runs.items():
        reference = parts["connectorx"].rate
        for part, result in parts.items():
            lines.append(
                f"| {events:,} | {PART_LABELS[part]} | {result.rows:,} | {result.seconds:.1f} s | {result.rate:,.0f} "
                f"| {ratio(result.rate, reference)} | {result.process.peak_mib:,.0f} MiB |"
            )
    lines.append("")
    for part, target in TARGETS.items():
        shares = ", ".join(
            f"{ratio(p[part].rate, p['connectorx'].rate)} at {e:,} ({verdict(p[part].rate >= target * p['connectorx'].rate)})"
            for e, p in runs.items()
        )
        lines.append(f"- {PART_LABELS[part]} vs ConnectorX's rate: {shares} (target ≥ {target}×)")
    sizes = sorted(runs)
    if len(sizes) > 1:
        small, large = runs[sizes[0]], runs[sizes[-1]]
        growth = ", ".join(
            f"{PART_LABELS[part]} {ratio(large[part].process.peak_bytes, small[part].process.peak_bytes)} "
            f"({verdict(large[part].process.peak_bytes <= MEMORY_GROWTH_TARGET * small[part].process.peak_bytes)})"
            for part in ("raw", "canonical")
        )
        lines.append(f"- peak memory at {sizes[-1]:,} vs {sizes[0]:,}: {growth} (target ≤ {MEMORY_GROWTH_TARGET}×)")
    subsets = [e for e, p in runs.items() if p["dlt_default"].rows < e]
    if subsets:
        rows = runs[subsets[0]]["dlt_default"].rows
        lines.append(
            f"- dlt's default backend was measured on the window of the first {rows:,} events only at "
            f"{', '.join(f'{e:,}' for e in subsets)} events (the whole history takes it ~4 min per million)"
        )
    return "\n".join(lines) + "\n"


SECTION_INTRO = f"""
{SECTION} (`python -m bench.history`)

A usage table in PostgreSQL (bigint id, text customer and metric, numeric(20,9) quantity,
timestamptz time, jsonb properties; generated server-side) loaded through the `sql` source's bulk
reader, next to ConnectorX's own read of the same window in the same run. Each measurement runs in
its own process: rows/s over the time of the read, of `dg.materialize` of `raw_app_db/usage_events`
over every day, or of `run_days` of the `usage_by_day` job (raw load, every dbt model and test);
peak memory is that process's tree (dbt included). Bytecode is compiled once beforehand into a
private cache (this machine sets PYTHONDONTWRITEBYTECODE, which would make every process recompile
all it imports inside the measured time).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000], help="history sizes")
    parser.add_argument("--days", type=int, default=92, help="days the events spread over")
    parser.add_argument("--dlt-default-rows", type=int, default=1_000_000, help="rows dlt's default backend reads")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        run_part(args.part, History(args.events[0], args.days), args.dlt_default_rows)
        return
    print("compiling bytecode once …", flush=True)
    compile_bytecode()
    runs = {events: run_history(History(events, args.days), args.dlt_default_rows) for events in args.events}
    section = results_section(runs)
    print(section)
    record_run(SECTION, SECTION_INTRO, section)


if __name__ == "__main__":
    main()
