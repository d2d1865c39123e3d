"""The BigQuery stand-in: an emulator in its own virtual environment, whose data outlives the
process that seeded it."""

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal, localcontext

import pyarrow.parquet as pq
import pytest

from billing_pipelines.sandbox.bigquery_standin import (
    STAMP_FILE,
    duckdb_platform,
    emulator_home,
    ensure_emulator_venv,
    listening_ports,
    running_bigquery,
    seed_usage,
)
from billing_pipelines_tests.bigquery.conftest import usage_rows


def test_the_emulator_venv_is_built_once_with_the_spatial_extension_in_its_home(bigquery):
    venv = ensure_emulator_venv()  # the session's emulator built (or reused) it already
    stamp = venv / STAMP_FILE
    built = stamp.stat().st_mtime_ns
    assert ensure_emulator_venv() == venv and stamp.stat().st_mtime_ns == built
    assert "bqemulator==1.4.0" in stamp.read_text().splitlines()
    extension = emulator_home(venv) / ".duckdb/extensions/v1.5.5" / duckdb_platform() / "spatial.duckdb_extension"
    assert extension.stat().st_size > 0


def test_duckdb_platform_names():
    assert duckdb_platform("x86_64").endswith("_amd64")
    assert duckdb_platform("aarch64").endswith("_arm64")


def test_listening_ports_are_read_from_the_json_log():
    lines = [
        "Uvicorn running on http://127.0.0.1:45001 (Press CTRL+C to quit)",
        json.dumps({"event": "rest.listen", "host": "127.0.0.1", "port": 45001}),
        "{not json",
    ]
    assert listening_ports(lines) == (45001, None)
    assert listening_ports([*lines, json.dumps({"event": "grpc.listen", "port": 45002})]) == (45001, 45002)


def test_a_seed_replaces_the_table_and_outlives_the_emulator_process(tmp_path):
    data_dir = tmp_path / "bigquery"
    first, second = usage_rows(50, seed=1), usage_rows(30, seed=2)
    pq.write_table(first, tmp_path / "first.parquet")
    pq.write_table(second, tmp_path / "second.parquet")
    with running_bigquery(data_dir) as settings:
        assert seed_usage(settings, tmp_path / "first.parquet") == 50
        assert seed_usage(settings, tmp_path / "second.parquet") == 30  # replaced, not appended
    assert (data_dir / "bqemulator.log").stat().st_size > 0
    with running_bigquery(data_dir) as settings:  # a new process on the same data
        client = settings.client()
        total, events = next(iter(client.query("SELECT SUM(quantity), COUNT(*) FROM product.usage_events").result()))
        (kind,) = [
            field.field_type for field in client.get_table("product.usage_events").schema if field.name == "properties"
        ]
    with localcontext(prec=38):  # NUMERIC's 38 digits, not Python's default 28
        assert events == 30 and total == sum(second["quantity"].to_pylist(), Decimal(0))
    assert kind == "JSON"


def test_an_emulator_that_cannot_start_fails_with_its_log(tmp_path, bigquery):
    busy_port = int(bigquery.api_endpoint.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="bqemulator exited .* see .*bqemulator.log"):
        with running_bigquery(tmp_path / "busy", rest_port=busy_port):
            pass


def test_the_command_line_serves_on_the_configured_port_until_terminated(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "billing_pipelines.sandbox.bigquery_standin", str(tmp_path), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().startswith(f"BigQuery stand-in at http://127.0.0.1:{port}")
        datasets = f"http://127.0.0.1:{port}/bigquery/v2/projects/sandbox-analytics/datasets"
        with urllib.request.urlopen(datasets, timeout=10) as response:
            assert response.status == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    finally:
        server.kill()
    with pytest.raises(urllib.error.URLError):  # the emulator went with it
        urllib.request.urlopen(datasets, timeout=5)
