"""Benchmark: a HubSpot full load, then an incremental sync of 1 % changed records
(`python -m bench.hubspot_sync`).

A portal the size of a real customer base sits in the HubSpot stand-in (real HTTP on loopback,
search limited to 4 requests a second as HubSpot limits it): by default 20,000 companies from
the sandbox generator, with their deals, line items, products and associations. The HubSpot raw
assets are materialized as a Dagster run does (`dg.materialize` of the source's dlt assets into
a DuckDB warehouse under `bench/.work/`), three times:

1. the full load: the first sync lists every record;
2. a sync with nothing changed: what every sync pays (the Dagster run, dlt's pipeline, one
   search per type, the archived records' list);
3. the incremental: 1 % of the companies, deals and line items changed (one change in twenty a
   delete, which HubSpot records as an archive), then the sync.

For each: records loaded (rows of the four object tables carrying the sync's load id; deal pairs
apart), wall time of the run, records per second, the requests the stand-in answered, by kind
(list pages, list pages of archived records, searches, association reads), and where the time
went (dlt's trace of the run: extract, normalize, load; the rest is Dagster's). Target: the
incremental costs at most 5 % of the full load, in requests and in time. The incremental must
load every changed record with its change; anything else it loads is reported with its cause.
Adds a run to the HubSpot section of `bench/RESULTS.md`.

    python -m bench.hubspot_sync                    # 20,000 companies
    python -m bench.hubspot_sync --companies 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import psutil
from dagster_dlt import DagsterDltResource

from bench.results import record_run
from billing_pipelines.config import BillingConfig, load_config
from billing_pipelines.defs.hubspot.assets import hubspot_definitions
from billing_pipelines.defs.hubspot.extract import SEARCH_REQUESTS_PER_SECOND, VISIBILITY_MARGIN_MS
from billing_pipelines.lib.runs import failure_messages
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.http_standin import Request, Response
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "hubspot_sync"
SECTION = "## HubSpot: full load vs 1 % incremental"
TARGET = 0.05
"""The most an incremental sync of 1 % changed records may cost, as a share of the full load."""
CHANGED_SHARE = 0.01
ARCHIVE_EVERY = 20
"""One change in this many is a delete (an archive); the others are edits."""
TOKEN_ENV, TOKEN = "BENCH_HUBSPOT_TOKEN", "pat-bench-hubspot"
SEEDED_UNTIL = date(2026, 9, 30)
"""The sandbox company's last day: its records were last modified long before the syncs."""
OBJECTS = ("companies", "deals", "line_items", "products")
PAIRS = ("deal_companies", "deal_line_items")
EDITED = {"companies": "name", "deals": "dealname", "line_items": "name"}
"""The types the benchmark changes (not the eight products), and the property an edit changes."""
SUFFIX = " (edited)"
"""What an edit appends to that property: raw shows the change arrived."""
KINDS = ("list", "archived", "search", "associations")
PIPELINE = "hubspot_api"
"""The dlt pipeline of the `hubspot` source's raw assets (`<source>_api`)."""
STEPS = ("extract", "normalize", "load")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""The run's console log: warnings and errors only (a run logs every event at DEBUG)."""


class CountingStandin(HubSpotStandin):
    """The HubSpot stand-in, counting the requests it answers by kind (`request_kind`)."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN)
        self.kinds: Counter[str] = Counter()

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.kinds[request_kind(request)] += 1
        return super().handle(request)

    def start_counting(self) -> None:
        with self.lock:
            self.kinds.clear()
            self.reset_log()

    def throttled(self) -> int:
        """The requests answered 429 (HubSpot's search limit) since counting started."""
        with self.lock:
            return sum(1 for request in self.log if request.status == 429)


def request_kind(request: Request) -> str:
    """What a request reads: a list page (of live or of archived records), a search, or associations."""
    if "/associations/" in request.path:
        return "associations"
    if request.path.endswith("/search"):
        return "search"
    return "archived" if request.param("archived", "false").lower() == "true" else "list"


@dataclass(frozen=True)
class Sync:
    """One measured sync: what it loaded, how long it took, and the requests it made."""

    name: str
    started: float
    """When the sync started (epoch seconds): the next sync's cursor is this less the margin."""
    load_id: str
    records: dict[str, int]
    """Rows of each object table carrying this sync's load id."""
    pair_rows: int
    seconds: float
    requests: Counter[str]
    throttled: int
    steps: dict[str, float]
    """Seconds of each step of dlt's run (`STEPS`, and `run`: all of it) by its trace."""

    @property
    def loaded(self) -> int:
        return sum(self.records.values())

    @property
    def rate(self) -> float:
        return self.loaded / self.seconds

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def search_wait(self) -> float:
        """The least time its searches take under HubSpot's limit: bursts of 4, a second apart."""
        return max(self.requests["search"] - 1, 0) // SEARCH_REQUESTS_PER_SECOND


@dataclass(frozen=True)
class Changes:
    """What the benchmark's users changed: the ids edited and archived, per type."""

    edited: dict[str, list[str]]
    archived: dict[str, list[str]]

    def ids(self, object_type: str) -> list[str]:
        return [*self.edited.get(object_type, ()), *self.archived.get(object_type, ())]

    @property
    def count(self) -> int:
        return sum(len(self.ids(t)) for t in OBJECTS)


# --- the portal and its workspace ----------------------------------------------------------------


def seeded_standin(companies: int) -> CountingStandin:
    """A portal of `companies` sandbox accounts with their deals, line items and products."""
    standin = CountingStandin()
    standin.seed_from_sandbox(*app_company(SEEDED_UNTIL, seed=11, accounts=companies))
    return standin


def workspace(root: Path, base_url: str) -> BillingConfig:
    """A fresh folder with a billing.yaml naming the stand-in as the `hubspot` source."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    path = root / "billing.yaml"
    path.write_text(
        'history_start: "2026-08-01"\n'
        "warehouse: {path: warehouse.duckdb}\n"
        "landing: {enabled: false}\n"
        "sources:\n"
        "  hubspot:\n"
        "    kind: hubspot\n"
        f"    base_url: {base_url}\n"
        f"    token_env: {TOKEN_ENV}\n"
    )
    return load_config(path)


def connect(config: BillingConfig) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(config.warehouse_path), read_only=True)


# --- a sync and what it loaded -------------------------------------------------------------------


def materialize(config: BillingConfig) -> float:
    """The HubSpot raw assets materialized as a Dagster run does; its wall time in seconds."""
    definitions = hubspot_definitions(config)
    assets = [a for a in definitions.assets if isinstance(a, dg.AssetsDefinition)]
    resources = {"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)}
    started = time.perf_counter()
    result = dg.materialize(assets, resources=resources, run_config=QUIET, raise_on_error=False)
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the HubSpot sync failed:\n{failure_messages(result)}")
    return seconds


def measured_sync(name: str, config: BillingConfig, standin: CountingStandin) -> Sync:
    """One sync, with the rows it loaded (by its load id) and the requests the stand-in answered."""
    standin.start_counting()
    started = time.time()
    seconds = materialize(config)
    with connect(config) as warehouse:
        load_id = warehouse.execute("select max(load_id) from raw_hubspot._dlt_loads").fetchone()[0]
        loaded = {t: rows_of_load(warehouse, t, load_id) for t in (*OBJECTS, *PAIRS)}
    records, pair_rows = {t: loaded[t] for t in OBJECTS}, sum(loaded[t] for t in PAIRS)
    requests, throttled = Counter(standin.kinds), standin.throttled()
    sync = Sync(name, started, load_id, records, pair_rows, seconds, requests, throttled, dlt_steps(config))
    print(
        f"{name}: {sync.loaded:,} records in {seconds:.1f} s ({sync.rate:,.0f}/s), "
        f"{sync.total_requests:,} requests {dict(sync.requests)}",
        flush=True,
    )
    return sync


def dlt_steps(config: BillingConfig) -> dict[str, float]:
    """Seconds of each step of the last run of the source's dlt pipeline, by its trace."""
    trace = warehouse_for(config).dlt_pipeline(PIPELINE, "raw_hubspot").last_trace
    return {step.step: (step.finished_at - step.started_at).total_seconds() for step in trace.steps}


def rows_of_load(warehouse: duckdb.DuckDBPyConnection, table: str, load_id: str) -> int:
    """The rows of a raw table a load wrote (a merge gives each row it rewrites the new load id)."""
    sql = f"select count(*) from raw_hubspot.{table} where _dlt_load_id = ?"
    return warehouse.execute(sql, [load_id]).fetchone()[0]


# --- the changes and their checks ----------------------------------------------------------------


def change_one_percent(config: BillingConfig, standin: HubSpotStandin) -> Changes:
    """Edit or archive 1 % of each type's live records, spread evenly over its ids (old and new
    customers alike), as users would between two syncs; the ids come from the full load. Edits
    are a millisecond apart or more, as people's are, not a bulk import's hundreds at once."""
    step = round(1 / CHANGED_SHARE)
    edited, archived = {}, {}
    with connect(config) as warehouse:
        for object_type, name in EDITED.items():
            live = warehouse.execute(
                f"select id, properties__{name} from raw_hubspot.{object_type} where not archived order by id::bigint"
            ).fetchall()
            chosen = live[step // 2 :: step]
            archived[object_type] = [object_id for object_id, _ in chosen[ARCHIVE_EVERY - 1 :: ARCHIVE_EVERY]]
            edits = [(object_id, value) for object_id, value in chosen if object_id not in archived[object_type]]
            edited[object_type] = [object_id for object_id, _ in edits]
            for object_id, value in edits:
                standin.update(object_type, object_id, **{name: f"{value or ''}{SUFFIX}"})
                time.sleep(0.001)
            for object_id in archived[object_type]:
                standin.archive(object_type, object_id)
    return Changes(edited, archived)


def changes_missing(config: BillingConfig, changes: Changes) -> list[str]:
    """What raw lacks after the incremental: edits without their new value, archives not flagged."""
    problems = []
    with connect(config) as warehouse:
        for object_type, name in EDITED.items():
            edited, archived = changes.edited[object_type], changes.archived[object_type]
            edits = warehouse.execute(
                f"select count(*) from raw_hubspot.{object_type} where id in (select unnest(?))"
                f" and properties__{name} like '%' || ?",
                [edited, SUFFIX],
            ).fetchone()[0]
            archives = warehouse.execute(
                f"select count(*) from raw_hubspot.{object_type} where id in (select unnest(?)) and archived",
                [archived],
            ).fetchone()[0]
            if edits != len(edited):
                problems.append(f"{object_type}: {edits:,} of {len(edited):,} edits in raw")
            if archives != len(archived):
                problems.append(f"{object_type}: {archives:,} of {len(archived):,} archives flagged in raw")
    return problems


def why_loaded(config: BillingConfig, sync: Sync, previous: Sync, changes: Changes) -> Counter[str]:
    """The records a sync loaded, by cause: `changed` by the benchmark; `archived earlier` (every
    sync lists the archived records again); `in the margin` (modified within the visibility
    margin before the previous sync started, which a sync reads again on purpose); else
    `unexplained`."""
    margin_from = round(previous.started * 1000) - VISIBILITY_MARGIN_MS
    causes: Counter[str] = Counter()
    with connect(config) as warehouse:
        for object_type in OBJECTS:
            rows = warehouse.execute(
                "select case when id in (select unnest(?)) then 'changed' when archived then 'archived earlier'"
                " when epoch_ms(updated_at) >= ? then 'in the margin' else 'unexplained' end, count(*)"
                f" from raw_hubspot.{object_type} where _dlt_load_id = ? group by 1",
                [changes.ids(object_type) or [""], margin_from, sync.load_id],
            ).fetchall()
            causes.update(dict(rows))
    return causes


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """The portal, its three syncs, the changes before the incremental and what was checked."""

    portal: dict[str, int]
    full: Sync
    unchanged: Sync
    incremental: Sync
    changes: Changes
    causes: Counter[str]
    """Why the incremental loaded what it loaded (`why_loaded`)."""


def warm_up() -> None:
    """One untimed sync of a small portal, so the imports dlt and Dagster make on first use (and
    compile, on a machine that keeps no bytecode) are not inside the full load's time."""
    standin = CountingStandin()
    standin.seed_from_sandbox(*app_company(SEEDED_UNTIL, seed=11, accounts=50))
    with standin.serving() as base_url:
        materialize(workspace(WORK / "warm_up", base_url))


def run(companies: int) -> Run:
    """Seed the portal; the full load, a sync with nothing changed, 1 % changed, the incremental."""
    print(f"seeding {companies:,} companies …", flush=True)
    standin = seeded_standin(companies)
    with standin.serving() as base_url:
        config = workspace(WORK / "portal", base_url)
        full = measured_sync("full load", config, standin)
        unchanged = measured_sync("nothing changed", config, standin)
        changes = change_one_percent(config, standin)
        print(f"changed {changes.count:,} records", flush=True)
        incremental = measured_sync("incremental", config, standin)
    causes, problems = why_loaded(config, incremental, unchanged, changes), changes_missing(config, changes)
    if problems or causes["changed"] != changes.count:
        missing = "; ".join(problems) or f"{causes['changed']:,} of {changes.count:,} changed records loaded"
        raise SystemExit(f"the incremental missed changes ({missing}): not a valid benchmark run")
    portal = dict(full.records)  # the first sync loads every record, archived ones included
    return Run(portal, full, unchanged, incremental, changes, causes)


# --- the results ---------------------------------------------------------------------------------


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %"


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def describe_portal(portal: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {object_type.replace('_', ' ')}" for object_type, count in portal.items())


def table_row(label: str, sync: Sync) -> str:
    kinds = " | ".join(f"{sync.requests[kind]:,}" for kind in KINDS)
    return (
        f"| {label} | {sync.loaded:,} | {sync.pair_rows:,} | {sync.seconds:.1f} s | {sync.rate:,.0f} | {kinds} "
        f"| {sync.total_requests:,} | {sync.throttled:,} |"
    )


def time_split(sync: Sync) -> str:
    """Where a sync's time went: dlt's steps (the searches' least wait within extract), then Dagster's."""
    parts = {step: f"{step} {sync.steps.get(step, 0):.1f} s" for step in STEPS}
    if sync.requests["search"]:
        parts["extract"] += f" (≥ {sync.search_wait:.1f} s of it the searches' spacing)"
    rest = sync.seconds - sync.steps["run"]
    return f"- {sync.name}, its {sync.seconds:.1f} s: dlt {', '.join(parts.values())}; Dagster {rest:.1f} s"


def loaded_line(result: Run) -> str:
    """What the incremental loaded besides the changed records (`run` checked it loaded those)."""
    causes, changes = result.causes, result.changes
    others = ", ".join(f"{count:,} {cause}" for cause, count in causes.items() if cause != "changed") or "nothing"
    exact = "exactly the changed records" if result.incremental.loaded == changes.count else "not exactly those"
    return (
        f"- the incremental loaded all {changes.count:,} changed records, each with its change; "
        f"besides them {others} ({exact})"
    )


def results_section(result: Run) -> str:
    """The run's table and the ratios the target is stated in."""
    full, unchanged, incremental, changes = result.full, result.unchanged, result.incremental, result.changes
    edits = sum(len(ids) for ids in changes.edited.values())
    archives = sum(len(ids) for ids in changes.archived.values())
    requests_met = incremental.total_requests <= TARGET * full.total_requests
    time_met = incremental.seconds <= TARGET * full.seconds
    lines = [
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {psutil.cpu_count()} cores\n",
        f"Portal: {describe_portal(result.portal)}.\n",
        "| sync | records loaded | deal pairs loaded | wall time | records/s "
        "| list | archived list | search | associations | requests | 429s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        table_row("full load", full),
        table_row("nothing changed", unchanged),
        table_row(f"incremental: {changes.count:,} changed ({edits:,} edited, {archives:,} archived)", incremental),
        "",
        f"- incremental vs full load: requests {share(incremental.total_requests, full.total_requests)} "
        f"({verdict(requests_met)}), time {share(incremental.seconds, full.seconds)} ({verdict(time_met)}) "
        f"(target ≤ {TARGET * 100:.0f} %)",
        f"- nothing changed vs full load: requests {share(unchanged.total_requests, full.total_requests)}, "
        f"time {share(unchanged.seconds, full.seconds)}: what any sync costs before a single change",
        loaded_line(result),
        *(time_split(sync) for sync in (full, unchanged, incremental)),
    ]
    return "\n".join(lines) + "\n"


SECTION_INTRO = f"""
{SECTION} (`python -m bench.hubspot_sync`)

A portal in the HubSpot stand-in (real HTTP on loopback; search limited to 4 requests a second, as
HubSpot limits it) synced by the HubSpot raw assets through `dg.materialize` into DuckDB: the full
load (every record listed), a sync with nothing changed (what any sync costs), then 1 % of the
companies, deals and line items changed (one change in twenty an archive) and the incremental
sync. Records are the rows of the four object tables carrying a sync's load id; requests are those
the stand-in answered, by kind; the time split is dlt's trace of the run. The stand-in serves from
the benchmark's own process (its CPU time is inside the wall times). Target: the incremental costs ≤ 5 %
of the full load.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20_000, help="sandbox accounts in the portal")
    args = parser.parse_args()
    apply_process_settings()
    os.environ[TOKEN_ENV] = TOKEN
    print("warming up …", flush=True)
    warm_up()
    section = results_section(run(args.companies))
    print(section)
    record_run(SECTION, SECTION_INTRO, section)


if __name__ == "__main__":
    main()
