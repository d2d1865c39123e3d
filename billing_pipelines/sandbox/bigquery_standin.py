"""A local BigQuery for the demo and the tests: bqemulator, in a virtual environment of its own.

bqemulator speaks BigQuery's REST API, so the same `google-cloud-bigquery` code reads it as it
reads production. It pins an older DuckDB than the project's, so it runs from `.venvs/bqemulator`,
never from the project's venv; its DuckDB loads the spatial extension at start, which we copy
from a registry package into a private HOME so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from billing_pipelines.config import PROJECT_ROOT

SANDBOX_PROJECT = "sandbox-analytics"
SANDBOX_REST_PORT = 9050
"""The port of the sandbox's `api_endpoint` in billing.yaml (bqemulator's own default)."""

EMULATOR_REQUIREMENTS = (
    "bqemulator==1.4.0",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "sqlglot<30.12",
    "numpy>=1.26",
)
"""What bqemulator 1.4.0 runs with on this machine: its DuckDB, the spatial extension built for
that DuckDB, a sqlglot its dialect code still works with, and numpy, without which its DuckDB
refuses to register the emulator's built-in functions at start."""
EMULATOR_DUCKDB_VERSION = "v1.5.5"
EMULATOR_VENV = Path(".venvs") / "bqemulator"
STAMP_FILE = ".requirements"
HOME_DIR = "home"


def emulator_home(venv: Path) -> Path:
    """The throw-away HOME the emulator runs with: DuckDB finds the spatial extension there."""
    return venv / HOME_DIR


def duckdb_platform(machine: str | None = None) -> str:
    """DuckDB's name for this platform's extension folder (`linux_amd64`, `linux_arm64`)."""
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[machine]
    return f"{'osx' if sys.platform == 'darwin' else sys.platform}_{arch}"


def ensure_emulator_venv(root: Path = PROJECT_ROOT) -> Path:
    """The emulator's virtual environment under `<root>/.venvs/bqemulator`, created on first use.

    A stamp file records the pinned requirements it was built with; while they match, nothing is
    installed again. A lock makes concurrent callers (pytest workers) build it once.
    """
    venv = root / EMULATOR_VENV
    venv.parent.mkdir(parents=True, exist_ok=True)
    wanted = "\n".join(EMULATOR_REQUIREMENTS) + "\n"
    stamp = venv / STAMP_FILE
    with open(venv.parent / "bqemulator.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == wanted and _executable(venv, "bqemulator").exists()):
            shutil.rmtree(venv, ignore_errors=True)
            _install(venv, EMULATOR_REQUIREMENTS)
            _install_spatial_extension(venv)
            stamp.write_text(wanted)
    return venv


def _executable(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def _install(venv: Path, requirements: tuple[str, ...]) -> None:
    """Create the venv and install the pins: with the project's `uv` when it has one, else pip."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        _run([uv, "pip", "install", "--quiet", "--python", str(_executable(venv, "python")), *requirements])
    else:
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(_executable(venv, "python")), "-m", "pip", "install", "--quiet", *requirements])


def _install_spatial_extension(venv: Path) -> None:
    """Copy the spatial extension where the emulator's DuckDB looks for it under HOME, so its
    `INSTALL spatial` at start finds it installed instead of downloading it."""
    packaged = _run(
        [
            str(_executable(venv, "python")),
            "-c",
            "import duckdb_extension_spatial, pathlib; print(pathlib.Path(duckdb_extension_spatial.__file__).parent)",
        ]
    ).strip()
    source = Path(packaged) / "extensions" / EMULATOR_DUCKDB_VERSION / "spatial.duckdb_extension"
    target = emulator_home(venv) / ".duckdb" / "extensions" / EMULATOR_DUCKDB_VERSION / duckdb_platform()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / source.name)


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "VIRTUAL_ENV": ""})
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} … failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


EMULATOR_LOG = "bqemulator.log"
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class BigQuerySettings:
    """Where a running emulator answers: what a `kind: bigquery` source entry needs
    (`project`, `api_endpoint`), plus its gRPC port (Storage Read/Write API) and its log."""

    project: str
    api_endpoint: str
    grpc_port: int
    log_path: Path

    def client(self):
        """A `google.cloud.bigquery.Client` of the emulator (anonymous: it checks no credentials)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.api_endpoint},
        )


@contextmanager
def running_bigquery(
    data_dir: Path, project: str = SANDBOX_PROJECT, *, rest_port: int = 0, grpc_port: int = 0
) -> Iterator[BigQuerySettings]:
    """Run the emulator while the block runs; its data persists in `data_dir/bqemulator.duckdb`.

    The data outlives the process: a later emulator started on the same `data_dir` (say, the one
    `dagster dev` reads) sees what an earlier one was seeded with. Only one emulator at a time can
    hold a `data_dir` (DuckDB locks the file). Port 0 picks a free port; the demo passes the port of
    its configured `api_endpoint`. The log stays in `data_dir/bqemulator.log`.
    """
    venv = ensure_emulator_venv()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / EMULATOR_LOG
    command = [
        str(_executable(venv, "bqemulator")),
        "start",
        *("--rest-port", str(rest_port), "--grpc-port", str(grpc_port), "--project", project),
        *("--persistent", "--data-dir", str(data_dir), "--log-format", "json"),
    ]
    with open(log_path, "a") as log:
        log_start = log.tell()
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_emulator_env(venv, data_dir)
        )
    try:
        rest, grpc = _wait_until_listening(process, log_path, log_start)
        settings = BigQuerySettings(project, f"http://127.0.0.1:{rest}", grpc, log_path)
        _wait_until_answering(process, settings)
        yield settings
    finally:
        _stop(process)


def _emulator_env(venv: Path, data_dir: Path) -> dict[str, str]:
    """The emulator's environment: the private HOME holding the spatial extension, no attempt
    to download the Avro extension (no internet here; our loads use Parquet), uploads staged in
    `data_dir`, and no query cache, so a read always sees the latest seed."""
    return {
        **os.environ,
        "HOME": str(emulator_home(venv)),
        "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",
        "BQEMU_UPLOAD_STAGING_DIR": str(data_dir / "uploads"),
        "BQEMU_UPLOAD_MAX_BYTES": str(10 * 1024**3),
        "BQEMU_QUERY_CACHE_TTL_SECONDS": "0",
    }


def listening_ports(log_lines: list[str]) -> tuple[int | None, int | None]:
    """The REST and gRPC ports the emulator reports it listens on (JSON log events
    `rest.listen` and `grpc.listen`), None while not yet reported."""
    ports: dict[str, int] = {}
    for line in log_lines:
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") in ("rest.listen", "grpc.listen"):
            ports[event["event"]] = int(event["port"])
    return ports.get("rest.listen"), ports.get("grpc.listen")


def _wait_until_listening(process: subprocess.Popen, log_path: Path, log_start: int) -> tuple[int, int]:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with open(log_path) as log:
            log.seek(log_start)
            rest, grpc = listening_ports(log.read().splitlines())
        if rest and grpc:
            return rest, grpc
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited ({process.returncode}) while starting; see {log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"bqemulator did not listen within {START_TIMEOUT_SECONDS} s; see {log_path}")


def _wait_until_answering(process: subprocess.Popen, settings: BigQuerySettings) -> None:
    """Wait until the REST API lists the project's datasets."""
    url = f"{settings.api_endpoint}/bigquery/v2/projects/{settings.project}/datasets"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"bqemulator does not answer at {settings.api_endpoint}; see {settings.log_path}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


USAGE_DATASET = "product"
USAGE_TABLE = "usage_events"
USAGE_COLUMNS = (
    ("event_id", "STRING"),
    ("account_external_id", "STRING"),
    ("metric", "STRING"),
    ("quantity", "NUMERIC"),
    ("occurred_at", "TIMESTAMP"),
    ("properties", "JSON"),
)
"""The product-analytics usage table the sandbox company keeps in BigQuery."""


def seed_usage(settings: BigQuerySettings, parquet_path: Path) -> int:
    """Replace `product.usage_events` with the rows of a Parquet file; returns the row count.

    The file (event_id, account_external_id, metric: string; quantity: decimal128(38, 9);
    occurred_at: timestamp[us, UTC]; properties: JSON text) is streamed to the emulator as one
    resumable upload (`size=None`: it accepts those, not multipart ones) and loaded as a job.
    """
    from google.cloud import bigquery

    client = settings.client()
    try:
        client.create_dataset(USAGE_DATASET, exists_ok=True)
        table_id = f"{settings.project}.{USAGE_DATASET}.{USAGE_TABLE}"
        client.delete_table(table_id, not_found_ok=True)
        schema = [bigquery.SchemaField(name, kind) for name, kind in USAGE_COLUMNS]
        table = client.create_table(bigquery.Table(table_id, schema=schema))
        job_config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET, write_disposition=bigquery.WriteDisposition.WRITE_APPEND
        )
        with open(parquet_path, "rb") as data:
            job = client.load_table_from_file(data, table, size=None, job_config=job_config)
        job.result()
        return client.get_table(table).num_rows
    finally:
        client.close()


def main(argv: list[str] | None = None) -> None:
    """Keep the stand-in running (for `dagster dev`) until interrupted or terminated."""
    parser = argparse.ArgumentParser(description="Run the local BigQuery stand-in (bqemulator).")
    parser.add_argument("data_dir", type=Path, help="folder keeping its DuckDB file and log")
    parser.add_argument("--port", type=int, default=SANDBOX_REST_PORT, help="REST port of the api_endpoint")
    parser.add_argument("--project", default=SANDBOX_PROJECT)
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    with running_bigquery(arguments.data_dir, arguments.project, rest_port=arguments.port) as settings:
        print(f"BigQuery stand-in at {settings.api_endpoint}, project {settings.project}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
