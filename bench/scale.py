"""Benchmark: does a run's cost follow the data it touches, not the size of the history?

Three sandbox companies (app-database usage events over a number of days, plus 60,000 landing
events), each in a workspace of its own under `bench/.work/` with history_start on its first day:

- 1M events over 92 days (the demo);
- 10M events over 920 days: the same daily volume and ten times the history, so the 2-day
  sync moves the same data as at 1M and any difference is what the history costs;
- 10M events over 92 days: ten times the daily volume, so the 2-day sync moves ten times the data.

For each:
1. generate the company (`python -m billing_pipelines.sandbox.generate --usage-events N --days D`)
   and accept the landing files, as the sensor does;
2. the historical migration as the CLI (and the UI) runs it: `dagster job execute -j
   billing_sync` with partition-range tags over every day since history_start;
3. the contemporary sync the same way over the latest 2 complete days, three times: the first
   run of a new window, then two more hourly ticks over the same window, whose median is
   reported (one run of a ~20 s command on a shared 2-core machine varies by ±10 %).

Each command is timed as a whole process, with the peak of the summed resident memory of its
process tree (the run, its step processes and dbt). The loaded counts are checked against the
generator's manifest, so a fast wrong run is not a result. Appends the table and the ratios the
scale targets are stated in to `bench/RESULTS.md`.

    python -m bench.scale                       # the three companies
    python -m bench.scale --only 1000000:92     # one of them (events:days)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median

import duckdb
import psutil
import yaml

from bench.bytecode import cached_bytecode_env, compile_bytecode
from bench.memory import Measured, measure_command
from bench.results import record_run
from billing_pipelines.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.defs.sync.schedules import sync_window
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.runtime import TELEMETRY_OFF
from billing_pipelines.sandbox.demo import app_db_file

BENCH = Path(__file__).resolve().parent
SECTION = "## Scale"
SECTION_INTRO = (
    "\n## Scale: cost follows the change (`python -m bench.scale`)\n\n"
    "Each company: the historical migration, then the 2-day sync three times, each as `dagster job execute\n"
    "-j billing_sync` with partition-range tags; time of the whole command and the peak of the summed\n"
    "resident memory of its process tree (the run and dbt).\n"
)
DEMO = (1_000_000, 92)
SAME_DAILY_VOLUME = (10_000_000, 920)
TEN_TIMES_DAILY_VOLUME = (10_000_000, 92)
COMPANIES = (DEMO, SAME_DAILY_VOLUME, TEN_TIMES_DAILY_VOLUME)
NEXT_TICKS = 2


@dataclass(frozen=True)
class ScaleResult:
    events: int
    days: int
    migration: Measured
    sync: Measured
    ticks: tuple[Measured, ...]
    budget_mib: float

    @property
    def sync_again(self) -> Measured:
        """The next hourly ticks over the same window: median time and median peak memory."""
        return Measured(median(t.seconds for t in self.ticks), int(median(t.peak_bytes for t in self.ticks)))

    @property
    def highest_mib(self) -> float:
        return max(run.peak_mib for run in (self.migration, self.sync, *self.ticks))

    @property
    def label(self) -> str:
        return f"{self.events:,} over {self.days} days"


def workspace(events: int, days: int, history_start: date) -> Path:
    """A private billing.yaml and Dagster instance: the shipped config with history starting on
    the company's first day and only the app database and the landing zone, the sources this
    company's usage is generated in (the warehouse sources need their stand-ins running and are
    what `bench.history` and the demo cover)."""
    root = BENCH / ".work" / f"scale-{events}-{days}d"
    shutil.rmtree(root, ignore_errors=True)
    (root / "dagster_home").mkdir(parents=True)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["history_start"] = history_start.isoformat()
    for source in config["sources"].values():
        source["enabled"] = source.get("kind", "sql") == "sql"
    (root / "billing.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(PROJECT_ROOT / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    return root


def environment(root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLING_")}
    env.update(TELEMETRY_OFF)
    env["BILLING_CONFIG"] = str(root / "billing.yaml")
    env["DAGSTER_HOME"] = str(root / "dagster_home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return cached_bytecode_env(env)


def job_execute(first: date, last: date) -> list[str]:
    """`dagster job execute` of the sync job over the days first..last, as one run."""
    tags = json.dumps(partition_range_tags(first, last))
    return [sys.executable, "-m", "dagster", "job", "execute", "-m", "billing_pipelines.definitions",
            "-j", SYNC_JOB, "--tags", tags]  # fmt: skip


def loaded_usage_events(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute("SELECT count(*) FROM billing.usage_events").fetchone()[0]


def run_company(events: int, days: int, today: date) -> ScaleResult:
    last = today - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    root = workspace(events, days, first)
    config = load_config(root / "billing.yaml")
    env = environment(root)
    app_db = app_db_file(config)
    name = f"[{events:,} events over {days} days]"
    print(f"{name} generating the sandbox company …", flush=True)
    subprocess.run(
        [sys.executable, "-m", "billing_pipelines.sandbox.generate", "--app-db", str(app_db),
         "--landing", str(config.landing_path), "--end-date", last.isoformat(),
         "--days", str((last - first).days + 1), "--usage-events", str(events)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    expected = json.loads(app_db.with_name("expected.json").read_text())["counts"]["usage_events"]
    accept_inbox(config.landing_path, datetime.now(UTC), config.event_time_range)

    print(f"{name} historical migration {config.history_start} .. {last} …", flush=True)
    migration = measure_command(job_execute(config.history_start, last), env, root / "migration.log")
    sync_first, sync_last = sync_window(today, config)
    print(f"{name} 2-day sync {sync_first} .. {sync_last}, {1 + NEXT_TICKS} times …", flush=True)
    sync = measure_command(job_execute(sync_first, sync_last), env, root / "sync.log")
    ticks = tuple(
        measure_command(job_execute(sync_first, sync_last), env, root / f"sync_tick_{n}.log")
        for n in range(1, NEXT_TICKS + 1)
    )

    loaded = loaded_usage_events(config.warehouse_path)
    if loaded != expected:
        raise SystemExit(f"loaded {loaded:,} usage events, expected {expected:,}: not a valid benchmark run")
    result = ScaleResult(events, days, migration, sync, ticks, config.memory_budget_mib)
    sync_again = result.sync_again
    print(
        f"{name} migration {migration.seconds:.1f} s, {migration.peak_mib:,.0f} MiB; sync {sync.seconds:.1f} s, "
        f"{sync.peak_mib:,.0f} MiB; next ticks {sync_again.seconds:.1f} s, {sync_again.peak_mib:,.0f} MiB",
        flush=True,
    )
    return result


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}×"


def results_section(results: list[ScaleResult]) -> str:
    """The run's rows, and the ratios the scale targets are stated in."""
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    machine = f"{platform.machine()}, {psutil.cpu_count()} cores"
    lines = [
        f"\n### {when} UTC, {machine}, memory budget {results[0].budget_mib:,.0f} MiB\n",
        "| app-db usage events | migration | its peak memory | 2-day sync | its peak memory | next ticks (median) | their peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.migration.seconds:.1f} s | {r.migration.peak_mib:,.0f} MiB "
            f"| {r.sync.seconds:.1f} s | {r.sync.peak_mib:,.0f} MiB "
            f"| {r.sync_again.seconds:.1f} s | {r.sync_again.peak_mib:,.0f} MiB |"
        )
    by_shape = {(r.events, r.days): r for r in results}
    base, history = by_shape.get(DEMO), by_shape.get(SAME_DAILY_VOLUME)
    lines.append("")
    if base and history:
        lines += [
            f"- 2-day sync, {history.label} vs {base.label} (the same data synced, ten times the history): "
            f"time {ratio(history.sync.seconds, base.sync.seconds)} (first run), "
            f"{ratio(history.sync_again.seconds, base.sync_again.seconds)} (next ticks); "
            f"peak memory {ratio(history.sync.peak_bytes, base.sync.peak_bytes)}, "
            f"{ratio(history.sync_again.peak_bytes, base.sync_again.peak_bytes)} (targets ≤ 1.15×)",
            f"- 2-day sync vs migration time, {history.label}: "
            f"{history.sync.seconds / history.migration.seconds:.0%} (first run of the window), "
            f"{history.sync_again.seconds / history.migration.seconds:.0%} (next tick) (target ≤ 10 %)",
        ]
    for large in (r for r in results if r.events > DEMO[0]):
        if base:
            lines.append(
                f"- migration peak memory, {large.label} vs {base.label}: "
                f"{ratio(large.migration.peak_bytes, base.migration.peak_bytes)} (target ≤ 1.5×)"
            )
    highest = max(r.highest_mib for r in results)
    lines.append(f"- highest peak of any run: {highest:,.0f} MiB (budget {results[0].budget_mib:,.0f} MiB)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="EVENTS:DAYS", help="companies to run (default: all three)")
    args = parser.parse_args()
    companies = [tuple(int(n) for n in c.split(":")) for c in args.only] if args.only else COMPANIES
    today = datetime.now(UTC).date()
    print("compiling bytecode once …", flush=True)
    compile_bytecode()
    results = [run_company(events, days, today) for events, days in companies]
    section = results_section(results)
    print(section)
    record_run(SECTION, SECTION_INTRO, section)


if __name__ == "__main__":
    main()
