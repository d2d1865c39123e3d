"""A local Snowflake for the demo and the tests: a fakesnow server keeping its databases in a folder.

fakesnow speaks Snowflake's HTTP protocol, so `snowflake.connector` (and dagster-snowflake on top
of it) runs unchanged against it: login, server-side binding, Arrow result chunks, PUT and COPY.
The server runs in a process of its own and keeps each database as `<DATABASE>.db` (a DuckDB file)
in the data folder, so what the demo seeds, later runs and `dagster dev` read, across restarts.
DuckDB allows one process per file: run one server per data folder at a time, and reach the data
only through it.

    python -m billing_pipelines.sandbox.snowflake_standin DATA_DIR [--port 8765]

serves in the foreground until interrupted (what `make dev` runs beside Dagster);
`running_snowflake(data_dir)` does the same for the duration of a `with` block.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STANDIN_PASSWORD = "standin"
"""fakesnow accepts any password; the source's password variable must still be set, to this."""
STARTUP_SECONDS = 120
"""How long the server may take to start (imports alone take ~10 s on a busy 2-core machine)."""
USAGE_DATABASE = "USAGE_LAKE"
USAGE_SCHEMA = "METERING"
USAGE_TABLE = "METERED_USAGE"

_SEED_STATEMENTS = (
    f"CREATE DATABASE IF NOT EXISTS {USAGE_DATABASE}",
    f"CREATE SCHEMA IF NOT EXISTS {USAGE_DATABASE}.{USAGE_SCHEMA}",
    f"USE SCHEMA {USAGE_DATABASE}.{USAGE_SCHEMA}",
    f"""CREATE OR REPLACE TABLE {USAGE_TABLE} (
        EVENT_ID VARCHAR, ACCOUNT_EXTERNAL_ID VARCHAR, METRIC VARCHAR, QUANTITY NUMBER(38, 9),
        OCCURRED_AT TIMESTAMP_TZ, PROPERTIES VARIANT)""",
)
_SEED_FILE = "usage_events.parquet"
# The file is streamed by the connector: its name in the command only names the staged copy.
_SEED_PUT = f"PUT file://{_SEED_FILE} @%{USAGE_TABLE} AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
_SEED_COPY = f"""
    COPY INTO {USAGE_TABLE} (EVENT_ID, ACCOUNT_EXTERNAL_ID, METRIC, QUANTITY, OCCURRED_AT, PROPERTIES)
    FROM (SELECT $1:event_id, $1:account_external_id, $1:metric, $1:quantity, $1:occurred_at,
                 PARSE_JSON($1:properties)
          FROM @%{USAGE_TABLE})
    FILE_FORMAT = (TYPE = PARQUET) FORCE = TRUE PURGE = TRUE"""
_COPY_ROWS_LOADED = 3
"""Column of COPY's per-file result that counts the rows loaded."""


@dataclass(frozen=True)
class StandinSnowflake:
    """Where the stand-in listens, and the account, user and database a source connects with
    (`host`, `port`, `protocol` go into the source's billing.yaml entry as they are)."""

    host: str
    port: int
    protocol: str = "http"
    account: str = "fakesnow"
    user: str = "billing"
    database: str = USAGE_DATABASE

    def connect_arguments(self) -> dict[str, Any]:
        """`snowflake.connector.connect` keyword arguments reaching the stand-in."""
        return {
            "account": self.account,
            "user": self.user,
            "password": STANDIN_PASSWORD,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
        }


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_snowflake(data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> Iterator[StandinSnowflake]:
    """A fakesnow server keeping its databases in `data_dir` (created if missing), for the
    duration of the block; its output goes to `data_dir/server.log`."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    command = [sys.executable, "-m", __name__, str(data_dir), "--port", str(port), "--host", host]
    with open(data_dir / "server.log", "ab") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(server, host, port, data_dir / "server.log")
        yield StandinSnowflake(host=host, port=port)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_listening(server: subprocess.Popen, host: str, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Snowflake stand-in exited at start ({server.returncode}): see {log}")
        with contextlib.closing(socket.socket()) as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"the Snowflake stand-in did not listen on {host}:{port} within {STARTUP_SECONDS} s: see {log}")


def seed_usage(standin: StandinSnowflake, parquet_path: Path) -> int:
    """Replace `USAGE_LAKE.METERING.METERED_USAGE` with the usage events of a Parquet file (event_id,
    account_external_id, metric, quantity decimal(38,9), occurred_at timestamp UTC, properties JSON
    text) the way a Snowflake team loads files: PUT to the table's stage, then one COPY, which
    parses `properties` into a VARIANT. Returns the number of rows loaded."""
    import snowflake.connector  # only the seeding process needs the connector

    connection = snowflake.connector.connect(**standin.connect_arguments())
    with contextlib.closing(connection), open(parquet_path, "rb") as parquet:
        cursor = connection.cursor()
        for statement in _SEED_STATEMENTS:
            cursor.execute(statement)
        cursor.execute(_SEED_PUT, file_stream=parquet)
        return sum(row[_COPY_ROWS_LOADED] for row in cursor.execute(_SEED_COPY).fetchall())


def serve(data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Run the fakesnow server in this process until interrupted; its databases live in `data_dir`."""
    import importlib

    import uvicorn
    from fakesnow.instance import FakeSnow
    from fakesnow.transforms import stage

    # `fakesnow.server` the function is shadowed by the module once imported: reach the module.
    server_module = importlib.import_module("fakesnow.server")
    # Every session without its own FAKESNOW_DB_PATH shares this instance: the files in data_dir.
    server_module.shared_fs = FakeSnow(db_path=data_dir)
    # uvicorn re-raises SIGTERM once it has shut down: leave through `finally`, not the default handler.
    signal.signal(signal.SIGTERM, _exit)
    try:
        uvicorn.run(server_module.app, host=host, port=port, log_level="warning")
    finally:
        server_module.shared_fs.duck_conn.close()  # checkpoint the databases
        shutil.rmtree(stage.LOCAL_BUCKET_PATH, ignore_errors=True)  # staged files, already copied


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Snowflake stand-in (fakesnow).")
    parser.add_argument("data_dir", type=Path, help="folder keeping the databases, one DuckDB file each")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args(argv)
    arguments.data_dir.mkdir(parents=True, exist_ok=True)
    serve(arguments.data_dir.resolve(), arguments.port, arguments.host)


if __name__ == "__main__":
    main()
