"""Benchmark: sustained push-API ingest against a bare endpoint, on loopback (`python -m bench.ingest_api`).

Two servers, each alone on the machine while it is measured, each under uvicorn with the same
settings (one process, uvloop, httptools, no access log):

- **bare** (`bench/bare_ingest.py`): Starlette + orjson, parses the array, appends its events to
  a file with group commit + fsync, answers 202. No validation, no auth, no idempotency.
- **push API** (`billing-api serve`): `POST /v1/usage-events` with everything on: a bearer key,
  every event validated and checked against the event-time range, a unique `Idempotency-Key`
  per request (stored answer), a unique `event_id` per event (the recent-id index), landed
  with fsync before the answer. The rate limit is set out of reach.

The load is wrk (`apt-get install -y wrk`): 32 connections, 2 threads, a warm-up, then the
measured run; `bench/ingest_api.lua` sends identical bodies to both servers (batches of 100 and
of 1,000 events, ids unique per request and per event) and counts every response that is not a
202 accepting the whole batch. A run with any such response, or socket error, is reported invalid.
After each server stops, the lines it landed are counted: every acknowledged event must be
there, and nothing beyond the requests wrk sent (a request in flight when wrk stops may land
unanswered). Target (issue "push ingestion API"): the push API at batches of 100 sustains
≥ 0.5 × the bare endpoint of the same run, with p99 < 100 ms.

Adds a run to the push-API section of `bench/RESULTS.md`.

    python -m bench.ingest_api                   # 5 s warm-up + 25 s per measurement
    python -m bench.ingest_api --seconds 10 --warmup 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil

from bench.results import record_run
from billing_pipelines.config import load_config
from billing_pipelines.ingest_api.keys import KeyStore
from billing_pipelines.ingest_api.state import open_state

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "ingest_api"
LUA = BENCH / "ingest_api.lua"
SECTION = "## Push API: sustained ingest vs a bare endpoint"
PATH = "/v1/usage-events"
BATCHES = (100, 1_000)
CONNECTIONS, THREADS = 32, 2
TARGET_RATIO, TARGET_P99_MS = 0.5, 100
START_TIMEOUT_SECONDS = 60
BUSY_CORES = 0.25
"""Other processes' share of the cores above which a run is flagged as measured on a busy machine."""
BARE, OURS = "bare endpoint", "push API"
WRK_MISSING = (
    "wrk is not installed. On Debian/Ubuntu: `apt-get install -y wrk` (as root; `apt-get update` first "
    "on a fresh machine); elsewhere see https://github.com/wg/wrk. Then run `python -m bench.ingest_api` again."
)


# --- the load ------------------------------------------------------------------------------------


def event_template(batch: int, now: datetime) -> bytes:
    """One request body: `batch` events in the last ten minutes, "@" standing for the request id."""
    metrics = ("api_calls", "storage_gb_hours", "seats")
    start = now - timedelta(minutes=10)
    events = [
        {
            "event_id": f"@-{index}",
            "customer_id": f"cust-{index % 250:04d}",
            "metric": metrics[index % 3],
            "timestamp": (start + timedelta(seconds=(index * 7) % 600)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "quantity": index % 17 + 1 if index % 2 else f"{index % 13}.25",
            "properties": {"region": "eu-west-1", "plan": "growth"},
        }
        for index in range(batch)
    ]
    return orjson.dumps(events)


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(WRK_MISSING)
    return wrk


@dataclass
class Load:
    """What wrk measured, from the script's BENCH_RESULT line (latencies in microseconds)."""

    duration_us: int
    requests: int
    sent: int
    answered_202: int
    not_202: int
    not_all_accepted: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float
    socket_errors: dict[str, int]
    cpu_seconds: float = 0.0
    """wrk's own CPU time (user + system), for how the two cores were shared."""

    @property
    def seconds(self) -> float:
        return self.duration_us / 1e6

    @property
    def failures(self) -> int:
        return self.not_202 + self.not_all_accepted + sum(self.socket_errors.values())


def run_wrk(url: str, template: Path, run_id: str, key: str, seconds: float, log: Path) -> Load:
    """One wrk run of `seconds` against `url`; its full output is appended to `log`."""
    command = [
        require_wrk(),
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url + PATH,
        "--",
        str(template),
        run_id,
        key,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as output:
        output.write(f"$ {' '.join(command)}\n{finished.stdout}{finished.stderr}\n")
    lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr[-2000:] or finished.stdout[-2000:]}")
    load = Load(**json.loads(lines[-1].removeprefix("BENCH_RESULT ")))
    load.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return load


# --- the servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """One server process over its own folder; ready once its port accepts connections."""

    name: str
    root: Path
    command: list[str]
    environment: dict[str, str]
    port: int
    key: str = ""
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self) -> Server:
        self.process = subprocess.Popen(
            self.command, env=self.environment, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen within {START_TIMEOUT_SECONDS} s")

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes so far."""
        server = psutil.Process(self.process.pid)
        processes = [server, *server.children(recursive=True)]
        return sum(times.user + times.system for times in (process.cpu_times() for process in processes))

    def stop(self) -> None:
        """A graceful stop: the push API seals its open landing files into the inbox."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        if self.process.returncode not in (0, -signal.SIGTERM):
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")


def child_environment(**settings: str) -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items() if not name.startswith("BILLING_")}
    return environ | {"DO_NOT_TRACK": "1"} | settings


def bare_server(root: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_ingest", "--port", str(port), "--file", str(root / "events.jsonl")]
    return Server(BARE, root, command, child_environment(), port)


def write_api_config(root: Path, history_start: datetime) -> Path:
    """Only the landing zone, everything under `root`; the rate limit out of the way; one API
    process per core (`ingest_api.workers`), as a deployment on this machine would run it."""
    path = root / "billing.yaml"
    path.write_text(
        f'history_start: "{history_start:%Y-%m-%d}"\n'
        "warehouse: {path: warehouse.duckdb}\n"
        "landing: {path: landing}\n"
        "ingest_api:\n"
        "  state_path: api_state\n"
        "  requests_per_second: 1000000000\n"
        "  burst: 1000000000\n"
        f"  workers: {os.cpu_count() or 1}\n"
    )
    return path


def api_server(root: Path, now: datetime) -> Server:
    config_path = write_api_config(root, now - timedelta(days=90))
    keys = KeyStore(open_state(load_config(config_path).ingest_api_state_path))
    try:
        key = keys.create("bench", ["usage:write"])[1]
    finally:
        keys.connection.close()
    port = free_port()
    environment = child_environment(
        BILLING_CONFIG=str(config_path), BILLING_API_HOST="127.0.0.1", BILLING_API_PORT=str(port)
    )
    command = [sys.executable, "-m", "billing_pipelines.ingest_api.main", "serve"]
    return Server(OURS, root, command, environment, port, key)


def count_lines(paths: list[Path], header: bool) -> int:
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        total -= 1 if header else 0
    return total


def landed_events(server: Server) -> int:
    """Events on disk after the server stopped: the bare endpoint's file, or the push API's
    sealed `usage_events` landing files (its spool must be empty, nothing rejected)."""
    if server.name == BARE:
        return count_lines([server.root / "events.jsonl"], header=False)
    landing = server.root / "landing"
    left_in_spool = [path for path in (landing / ".spool").rglob("*") if path.is_file()]
    rejected = list((landing / "rejected_records").glob("*.csv"))
    if left_in_spool or rejected:
        raise RuntimeError(f"after the stop: {len(left_in_spool)} files left in the spool, {len(rejected)} rejected")
    return count_lines(sorted((landing / "usage_events").glob("*.csv")), header=True)


# --- one measurement -----------------------------------------------------------------------------


@dataclass
class Measurement:
    endpoint: str
    batch: int
    body_bytes: int
    load: Load
    server_cpu_seconds: float
    others_cpu_seconds: float
    """CPU time of every other process on the machine meanwhile: a busy machine shows here."""
    acknowledged: int
    """Events in 202 answers, warm-up included (what must have landed)."""
    sent: int
    """Events in every request wrk started, warm-up included (the most that may have landed)."""
    landed: int

    @property
    def requests_per_second(self) -> float:
        return self.load.requests / self.load.seconds

    @property
    def events_per_second(self) -> float:
        return self.load.answered_202 * self.batch / self.load.seconds

    @property
    def landed_ok(self) -> bool:
        return self.acknowledged <= self.landed <= self.sent

    @property
    def valid(self) -> bool:
        return self.load.failures == 0 and self.landed_ok


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent busy so far (every core, every process)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def measure(endpoint: str, batch: int, seconds: float, warmup: float, now: datetime) -> Measurement:
    slug = f"{'bare' if endpoint == BARE else 'api'}-{batch}"
    root = WORK / slug
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    template = root / "body.json"
    template.write_bytes(event_template(batch, now))
    server = (bare_server if endpoint == BARE else lambda folder: api_server(folder, now))(root).start()
    wrk_log, run_stamp = root / "wrk.log", f"{int(time.time())}"
    try:
        warm = run_wrk(server.url, template, f"{run_stamp}w", server.key, warmup, wrk_log)
        cpu_before, machine_before = server.cpu_seconds(), busy_cpu_seconds()
        load = run_wrk(server.url, template, f"{run_stamp}m", server.key, seconds, wrk_log)
        server_cpu = server.cpu_seconds() - cpu_before
        others_cpu = busy_cpu_seconds() - machine_before - server_cpu - load.cpu_seconds
    finally:
        server.stop()
    measurement = Measurement(
        endpoint,
        batch,
        template.stat().st_size,
        load,
        server_cpu,
        max(0.0, others_cpu),
        acknowledged=(warm.answered_202 + load.answered_202) * batch,
        sent=(warm.sent + load.sent) * batch,
        landed=landed_events(server),
    )
    if measurement.valid:  # keep the files of a run that went wrong, for a look
        for landed in [root / "events.jsonl", root / "landing"]:
            landed.unlink() if landed.is_file() else shutil.rmtree(landed, ignore_errors=True)
    return measurement


# --- the results ---------------------------------------------------------------------------------


def milliseconds(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f} ms"


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def table_row(m: Measurement) -> str:
    load = m.load
    cores = " / ".join(
        f"{cpu / load.seconds:.2f}" for cpu in (m.server_cpu_seconds, load.cpu_seconds, m.others_cpu_seconds)
    )
    failures = f"{load.not_202:,} / {load.not_all_accepted:,} / {sum(load.socket_errors.values()):,}"
    landed = f"{m.landed:,} ({'ok' if m.landed_ok else 'WRONG'})"
    return (
        f"| {m.endpoint} | {m.batch:,} | {m.body_bytes / 1024:,.0f} KiB | {m.requests_per_second:,.0f} "
        f"| {m.events_per_second:,.0f} | {milliseconds(load.p50_us)} | {milliseconds(load.p99_us)} "
        f"| {milliseconds(load.max_us)} | {failures} | {cores} | {landed} |"
    )


def landed_note(m: Measurement) -> str:
    in_flight = (m.sent - m.acknowledged) // m.batch
    return (
        f"- {m.endpoint}, batches of {m.batch:,}: landed {m.landed:,} events; acknowledged {m.acknowledged:,}, "
        f"sent {m.sent:,} ({in_flight} requests unanswered when wrk stopped, warm-up included): "
        f"{'every acknowledged event landed, nothing beyond what was sent' if m.landed_ok else 'MISMATCH'}"
    )


def comparison(ours: Measurement, bare: Measurement, judged: bool) -> str:
    ratio = ours.events_per_second / bare.events_per_second
    p99_ms = ours.load.p99_us / 1000
    line = (
        f"- batches of {ours.batch:,}: push API / bare = {ratio:.2f} "
        f"({ours.events_per_second:,.0f} vs {bare.events_per_second:,.0f} events/s), push API p99 {p99_ms:.1f} ms"
    )
    if not judged:
        failed = "" if ours.valid and bare.valid else "; a run with failed responses, see the table"
        return line + f" (for information; the target is stated at batches of 100{failed})"
    if not (ours.valid and bare.valid):
        return line + ": **invalid run** (failed responses or a landing mismatch, see the table)"
    met = ratio >= TARGET_RATIO and p99_ms < TARGET_P99_MS
    return (
        line + f": target ≥ {TARGET_RATIO} × bare {verdict(ratio >= TARGET_RATIO)}, "
        f"p99 < {TARGET_P99_MS} ms {verdict(p99_ms < TARGET_P99_MS)}: **{verdict(met)}**"
    )


def busy_note(measurements: list[Measurement]) -> list[str]:
    """A warning when other processes took a noticeable share of the cores during a measurement."""
    others = max(m.others_cpu_seconds / m.load.seconds for m in measurements)
    if others < BUSY_CORES:
        return []
    return [
        f"- **the machine was not quiet**: other processes used up to {others:.2f} of its "
        f"{psutil.cpu_count()} cores during a measurement; the ratio of the same run still compares, "
        "the absolute numbers do not (rerun on a quiet machine to compare with the anchors)"
    ]


def results_section(measurements: list[Measurement], seconds: float, warmup: float) -> str:
    by_key = {(m.endpoint, m.batch): m for m in measurements}
    wrk_version = subprocess.run([require_wrk(), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    lines = [
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {psutil.cpu_count()} cores\n",
        f"{wrk_version.split(' Copyright')[0]}, {CONNECTIONS} connections, {THREADS} threads, "
        f"{warmup:g} s warm-up then {seconds:g} s measured per row.\n",
        "| endpoint | events per request | body | requests/s | events/s | p50 | p99 | max "
        "| non-202 / not all accepted / socket errors | cores used: server / wrk / other processes | events landed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(table_row(m) for m in measurements),
        "",
        *(
            comparison(by_key[(OURS, batch)], by_key[(BARE, batch)], judged=batch == 100)
            for batch in BATCHES
            if (OURS, batch) in by_key and (BARE, batch) in by_key
        ),
        *(landed_note(m) for m in measurements),
        *busy_note(measurements),
    ]
    return "\n".join(lines) + "\n"


SECTION_INTRO = f"""
{SECTION} (`python -m bench.ingest_api`)

wrk on loopback against, in turn, a bare ASGI endpoint (`bench/bare_ingest.py`: Starlette +
orjson, append + fsync with group commit, no validation, no auth, no idempotency) and the push
API's `POST /v1/usage-events` with validation, a bearer key, a unique `Idempotency-Key` per
request and a unique `event_id` per event; both under uvicorn (one process, uvloop, httptools,
no access log), both sent the same bodies. Every response must be a 202 accepting the whole
batch; after each server stops, the events it landed are counted against those acknowledged
and those sent. "Cores used" is CPU time over wall time: server, wrk and every other process
share the machine's cores (other processes' share shows when the machine was not quiet). Anchors: Orb documents 10,000 events/min per account, Lago 500 requests/s of ≤ 100
events. Target: the push API ≥ 0.5 × the bare endpoint of the same run at batches of 100, p99 < 100 ms.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=5, help="warm-up seconds before each measured run")
    parser.add_argument("--no-record", action="store_true", help="print the results only, not into RESULTS.md")
    args = parser.parse_args()
    require_wrk()
    now = datetime.now(UTC)
    measurements = []
    for batch in BATCHES:
        for endpoint in (BARE, OURS):
            print(f"{endpoint}, batches of {batch:,} …", flush=True)
            measurements.append(measure(endpoint, batch, args.seconds, args.warmup, now))
            print(table_row(measurements[-1]), flush=True)
    section = results_section(measurements, args.seconds, args.warmup)
    print(section)
    if not args.no_record:
        record_run(SECTION, SECTION_INTRO, section)


if __name__ == "__main__":
    main()
