"""Several API processes on one port (`ingest_api.workers`): the connections are spread between
them, a worker that dies is replaced, and a stop seals every worker's landing files."""

from __future__ import annotations

import csv
import signal
import socket
import time

import psutil
import pytest

from billing_pipelines_tests.ingest_api.conftest import RunningApi, write_api_config
from billing_pipelines_tests.ingest_api.test_push_api import event

CONNECTIONS = 40


def push_on_new_connections(api, key: str, prefix: str, count: int) -> list[str]:
    """One push per new connection (the kernel picks a worker per connection); the event ids
    acknowledged."""
    acknowledged = []
    for number in range(count):
        with api.client(key) as client:
            answer = client.post("/v1/usage-events", json=[event(f"{prefix}-{number}")])
        assert answer.status_code == 202, answer.text
        acknowledged.append(f"{prefix}-{number}")
    return acknowledged


def workers_of(api) -> list[psutil.Process]:
    """The worker processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(api.process.pid).children()
    return [child for child in children if "resource_tracker" not in " ".join(child.cmdline())]


def wait_until_each_listens(api, workers: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while True:
        listening = [
            worker
            for worker in workers_of(api)
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == api.port for c in worker.net_connections())
        ]
        if len(listening) == workers:
            return listening
        assert time.monotonic() < deadline, f"{len(listening)} of {workers} workers listen"
        time.sleep(0.2)


def landed_by_process(api) -> dict[str, set[str]]:
    """Event ids in the inbox by the process that landed them (`api-<time>-<host>-<pid>-<n>.csv`)."""
    landed: dict[str, set[str]] = {}
    for path in api.inbox_files("usage_events"):
        pid = path.stem.split("-")[-2]
        landed.setdefault(pid, set()).update(row["event_id"] for row in csv.DictReader(path.open()))
    return landed


def test_two_workers_share_the_connections_and_a_stop_seals_all_they_landed(start_api):
    api = start_api("workers: 2")
    key = api.key("usage:write")
    first_workers = wait_until_each_listens(api, 2)
    acknowledged = push_on_new_connections(api, key, "spread", CONNECTIONS)

    first_workers[0].send_signal(signal.SIGKILL)  # a crash: the parent starts another worker
    first_workers[0].wait(timeout=10)
    replaced = wait_until_each_listens(api, 2)
    assert first_workers[0].pid not in {worker.pid for worker in replaced}
    acknowledged += push_on_new_connections(api, key, "after", CONNECTIONS)

    api.stop()
    assert api.process.returncode == 0
    landed = landed_by_process(api)
    assert len(landed) >= 3, f"each of the three workers took connections: {sorted(landed)}"
    every_event = [event_id for ids in landed.values() for event_id in ids]
    assert sorted(every_event) == sorted(acknowledged), "every acknowledged event landed, once"
    assert not [path for path in (api.landing / ".spool").rglob("*") if path.is_file()]


def test_workers_that_cannot_start_stop_the_server_with_an_error(tmp_path):
    """A worker that fails before serving (here: its port is taken) is not restarted in a loop."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api = RunningApi(tmp_path, write_api_config(tmp_path, "workers: 2"), port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="the API exited with 1"):
            api.start()
    assert "Address already in use" in api.log()


def test_workers_stop_and_seal_their_files_when_the_parent_is_killed(start_api):
    api = start_api("workers: 2")
    workers = wait_until_each_listens(api, 2)
    acknowledged = push_on_new_connections(api, api.key("usage:write"), "orphan", 10)
    api.kill()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "no worker serves on without its parent"
    landed = [event_id for ids in landed_by_process(api).values() for event_id in ids]
    assert sorted(landed) == sorted(acknowledged)
