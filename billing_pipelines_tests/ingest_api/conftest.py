"""The push API served for real: uvicorn in its own process on a free loopback port, over a
landing zone and a warehouse in the test's folder, with keys made through the key store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from billing_pipelines.config import load_config
from billing_pipelines.ingest_api.keys import KeyStore
from billing_pipelines.ingest_api.state import open_state

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_api_config(root: Path, ingest_api: str = "", extra: str = "") -> Path:
    """A billing.yaml with only the landing zone as a source, everything under `root`."""
    path = root / "billing.yaml"
    settings = "\n".join(f"  {line}" for line in ("segment_seconds: 0.2", *filter(None, ingest_api.splitlines())))
    path.write_text(
        'history_start: "2026-08-01"\n'
        "warehouse: {path: warehouse.duckdb}\n"
        "landing: {path: landing, poll_seconds: 5}\n"
        f"ingest_api:\n  state_path: api_state\n{settings}\n{extra}"
    )
    return path


@dataclass
class RunningApi:
    """One API process; `kill()` and `start()` play a crash and a restart."""

    root: Path
    config_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def environment(self) -> dict[str, str]:
        environ = {name: value for name, value in os.environ.items() if not name.startswith("BILLING_")}
        return environ | {
            "BILLING_CONFIG": str(self.config_path),
            "BILLING_API_HOST": "127.0.0.1",
            "BILLING_API_PORT": str(self.port),
        }

    def start(self) -> RunningApi:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billing_pipelines.ingest_api.main", "serve"],
            env=self.environment(),
            stdout=(self.root / "api.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the API did not answer within {START_TIMEOUT_SECONDS} s: {self.log()[-2000:]}")

    def stop(self) -> None:
        """A graceful stop: open landing files are sealed into the inbox."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """A crash: nothing is flushed or sealed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def log(self) -> str:
        return (self.root / "api.log").read_text(errors="replace")

    def key(self, *scopes: str, name: str = "test") -> str:
        keys = KeyStore(open_state(load_config(self.config_path).ingest_api_state_path))
        try:
            return keys.create(name, list(scopes))[1]
        finally:
            keys.connection.close()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def inbox_files(self, dataset: str) -> list[Path]:
        return sorted((self.landing / dataset).glob("*.csv"))


@pytest.fixture
def start_api(tmp_path):
    """Start an API of its own over `tmp_path` (optional `ingest_api:` settings and extra YAML)."""
    running: list[RunningApi] = []

    def start(ingest_api: str = "", extra: str = "") -> RunningApi:
        api = RunningApi(tmp_path, write_api_config(tmp_path, ingest_api, extra))
        running.append(api.start())
        return api

    yield start
    for api in running:
        api.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> RunningApi:
    """One API for a test module (starting one takes seconds): its tests keep to ids of their own."""
    root = tmp_path_factory.mktemp("api")
    running = RunningApi(root, write_api_config(root)).start()
    yield running
    running.stop()


@pytest.fixture
def ids(request) -> str:
    """A prefix for the ids of one test's records, so tests can share an API."""
    return f"{request.node.name[:40]}-"
