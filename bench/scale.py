"""Benchmark: does a run's cost follow the data it touches, not the size of the history?

For each history size (by default 1M and 10M app-database usage events over the demo's 92
days, plus the 60,000 landing events), in a workspace of its own under `bench/.work/`:

1. generate the sandbox company (`python -m billing_pipelines.sandbox.generate --usage-events N`)
   and accept the landing files, as the sensor does;
2. the historical migration as the CLI (and the UI) runs it: `dagster job execute -j
   billing_sync` with partition-range tags over every day since history_start;
3. the contemporary sync the same way over the latest 2 complete days.

Each command is timed as a whole process, with the peak of the summed resident memory of its
process tree (the run, its step processes and dbt). The loaded counts are checked against the
generator's manifest, so a fast wrong run is not a result. Appends the table and the ratios the
scale targets are stated in to `bench/RESULTS.md`.

    python -m bench.scale                      # 1M and 10M
    python -m bench.scale --events 1000000     # one size only
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
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psutil

from bench.memory import Measured, measure_command
from billing_pipelines.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.defs.sync.schedules import sync_window
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.runtime import TELEMETRY_OFF
from billing_pipelines.sandbox.demo import app_db_file, demo_days

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
SIZES = (1_000_000, 10_000_000)


@dataclass(frozen=True)
class ScaleResult:
    events: int
    migration: Measured
    sync: Measured
    budget_mib: float


def workspace(events: int) -> Path:
    """A private billing.yaml and Dagster instance for one history size."""
    root = BENCH / ".work" / f"scale-{events}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "dagster_home").mkdir(parents=True)
    shutil.copy(DEFAULT_CONFIG_PATH, root / "billing.yaml")
    shutil.copy(PROJECT_ROOT / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    return root


def environment(root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLING_")}
    env.update(TELEMETRY_OFF)
    env["BILLING_CONFIG"] = str(root / "billing.yaml")
    env["DAGSTER_HOME"] = str(root / "dagster_home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def job_execute(first: date, last: date) -> list[str]:
    """`dagster job execute` of the sync job over the days first..last, as one run."""
    tags = json.dumps(partition_range_tags(first, last))
    return [sys.executable, "-m", "dagster", "job", "execute", "-m", "billing_pipelines.definitions",
            "-j", SYNC_JOB, "--tags", tags]  # fmt: skip


def loaded_usage_events(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute("SELECT count(*) FROM billing.usage_events").fetchone()[0]


def run_size(events: int, today: date) -> ScaleResult:
    root = workspace(events)
    config = load_config(root / "billing.yaml")
    env = environment(root)
    first, last = demo_days(config, today)
    app_db = app_db_file(config)
    print(f"[{events:,} events] generating the sandbox company …", flush=True)
    subprocess.run(
        [sys.executable, "-m", "billing_pipelines.sandbox.generate", "--app-db", str(app_db),
         "--landing", str(config.landing_path), "--end-date", last.isoformat(),
         "--days", str((last - first).days + 1), "--usage-events", str(events)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    expected = json.loads(app_db.with_name("expected.json").read_text())["counts"]["usage_events"]
    accept_inbox(config.landing_path, datetime.now(UTC))

    print(f"[{events:,} events] historical migration {config.history_start} .. {last} …", flush=True)
    migration = measure_command(job_execute(config.history_start, last), env, root / "migration.log")
    sync_first, sync_last = sync_window(today, config)
    print(f"[{events:,} events] 2-day sync {sync_first} .. {sync_last} …", flush=True)
    sync = measure_command(job_execute(sync_first, sync_last), env, root / "sync.log")

    loaded = loaded_usage_events(config.warehouse_path)
    if loaded != expected:
        raise SystemExit(f"loaded {loaded:,} usage events, expected {expected:,}: not a valid benchmark run")
    result = ScaleResult(events, migration, sync, config.memory_budget_mib)
    print(
        f"[{events:,} events] migration {migration.seconds:.1f} s, {migration.peak_mib:,.0f} MiB; "
        f"sync {sync.seconds:.1f} s, {sync.peak_mib:,.0f} MiB",
        flush=True,
    )
    return result


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}×"


def results_section(results: list[ScaleResult]) -> str:
    """The run's rows, and the ratios the scale targets are stated in (first size vs last)."""
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    machine = f"{platform.machine()}, {psutil.cpu_count()} cores"
    lines = [
        f"\n### {when} UTC, {machine}, memory budget {results[0].budget_mib:,.0f} MiB\n",
        "| app-db usage events | migration | migration peak memory | 2-day sync | 2-day sync peak memory |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.events:,} | {r.migration.seconds:.1f} s | {r.migration.peak_mib:,.0f} MiB "
            f"| {r.sync.seconds:.1f} s | {r.sync.peak_mib:,.0f} MiB |"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        lines += [
            "",
            f"- migration peak memory, {large.events:,} vs {small.events:,}: "
            f"{ratio(large.migration.peak_bytes, small.migration.peak_bytes)} (target ≤ 1.5×)",
            f"- 2-day sync time, {large.events:,} vs {small.events:,} history: "
            f"{ratio(large.sync.seconds, small.sync.seconds)} (target ≤ 1.15×)",
            f"- 2-day sync peak memory, {large.events:,} vs {small.events:,} history: "
            f"{ratio(large.sync.peak_bytes, small.sync.peak_bytes)} (target ≤ 1.15×)",
            f"- 2-day sync vs migration time at {large.events:,}: "
            f"{large.sync.seconds / large.migration.seconds:.0%} (target ≤ 10 %)",
        ]
    highest = max(max(r.migration.peak_mib, r.sync.peak_mib) for r in results)
    lines.append(f"- highest peak of any run: {highest:,.0f} MiB (budget {results[0].budget_mib:,.0f} MiB)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=list(SIZES), help="app-db usage events per size")
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    results = [run_size(events, today) for events in args.events]
    section = results_section(results)
    print(section)
    if "## Scale" not in RESULTS.read_text():
        with RESULTS.open("a") as out:
            out.write(
                "\n## Scale: cost follows the change (`python -m bench.scale`)\n\n"
                "Each size: the historical migration, then the 2-day sync, each as `dagster job execute -j\n"
                "billing_sync` with partition-range tags; time of the whole command and the peak of the summed\n"
                "resident memory of its process tree (run, step processes, dbt).\n"
            )
    with RESULTS.open("a") as out:
        out.write(section)


if __name__ == "__main__":
    main()
