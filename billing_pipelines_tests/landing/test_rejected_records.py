"""Records the push API refuses itself reach billing.quarantine like every other rejected record.

The API writes them as CSV files into the landing inbox `rejected_records/`; from there they go
the way of any landing file: the sensor archives the file and launches the landing state run,
which loads `raw_landing.rejected_records` and rebuilds quarantine (a view) downstream of it.
"""

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import accept_inbox, landed_files
from billing_pipelines.defs.landing.columns import LANDING_COLUMNS, REJECTED_RECORDS
from billing_pipelines.defs.landing.sensors import LANDING_STATE_JOB
from billing_pipelines.defs.sync.jobs import STATE_JOB, SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES

RAW_KEY = dg.AssetKey(["raw_landing", REJECTED_RECORDS])
QUARANTINE_KEY = dg.AssetKey(["billing", "quarantine"])
LOCATION = "POST /v1/usage-events 2026-11-29T03:40:00Z request req_7f3a index 7"
REASON = "event_timestamp out of range: 2031-01-01T00:00:00Z is more than 60 minutes ahead"
PAYLOAD = json.dumps(
    {"event_id": "e-7", "metric": "api_calls", "quantity": 3, "event_timestamp": "2031-01-01T00:00:00Z"}
)
CUSTOMER_PAYLOAD = json.dumps({"external_id": "CUS-9", "name": 'Acme, "the" company', "currency": 42})


def csv_field(text: str) -> str:
    """RFC-4180 quoting, as the API writes its fields: JSON payloads carry commas and quotes."""
    return '"' + text.replace('"', '""') + '"'


def api_rejections_file() -> str:
    """Two refused records, and a third line broken in transit (too many fields)."""
    return (
        "dataset,location,reason,payload\n"
        f"usage_events,{LOCATION},{REASON},{csv_field(PAYLOAD)}\n"
        f"customers,POST /v1/customers 2026-11-29T03:41:00Z request req_8b1c index 0,"
        f"{csv_field('currency: expected a string, got 42')},{csv_field(CUSTOMER_PAYLOAD)}\n"
        "usage_events,somewhere,why,{},surplus\n"
    )


def drop(root, name: str, text: str) -> None:
    inbox = root / REJECTED_RECORDS
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(text)


def quarantined(config) -> list[tuple]:
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        return warehouse.execute(
            "SELECT source_system, dataset, location, reason, payload, quarantined_at FROM billing.quarantine"
            " WHERE source_system = 'landing' ORDER BY location"
        ).fetchall()


def test_rejected_records_is_a_landing_dataset_with_the_api_columns():
    assert LANDING_COLUMNS[REJECTED_RECORDS] == ("dataset", "location", "reason", "payload")


def test_a_rejected_records_file_is_archived_like_any_landing_file(tmp_path):
    root = tmp_path / "landing"
    drop(root, "api-20261129T034000-a-000001.csv", api_rejections_file())
    [landed] = accept_inbox(root, datetime(2026, 11, 29, 3, 45, tzinfo=UTC), TEST_EVENT_TIMES)
    assert (landed.dataset, landed.reason, landed.event_days) == (REJECTED_RECORDS, None, ())
    assert landed_files(root, dataset=REJECTED_RECORDS) == [landed]
    assert not list((root / REJECTED_RECORDS).glob("*.csv"))


def test_the_state_loads_carry_rejected_records_to_quarantine(project_config):
    project_config("landing: {path: landing}\n")
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW_KEY).group_name == "landing"
    assert dg.AssetKey(["landing", REJECTED_RECORDS]) in graph.get(RAW_KEY).parent_keys
    for job in (LANDING_STATE_JOB, STATE_JOB, SYNC_JOB):
        selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        assert {RAW_KEY, QUARANTINE_KEY} <= selected, job


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_api_rejections_dropped_in_the_inbox_reach_quarantine_once(project_config, instance):
    config = project_config("landing: {path: landing}\n")
    name = "api-20261129T034000-node1-000001.csv"
    drop(config.landing_path, name, api_rejections_file())
    drop(config.landing_path, "api-20261129T035000-node1-000002.csv", "dataset,reason\nusage_events,why\n")
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("landing_files")

    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    [request] = tick.run_requests
    assert request.job_name == LANDING_STATE_JOB and request.partition_key_range is None

    result = run_days(defs, request.job_name, None, None, instance)
    assert result.success, failure_messages(result)
    [archived] = landed_files(config.landing_path, dataset=REJECTED_RECORDS)
    received = archived.received_at
    rows = quarantined(config)
    assert rows == [
        (
            "landing",
            "customers",
            "POST /v1/customers 2026-11-29T03:41:00Z request req_8b1c index 0",
            "currency: expected a string, got 42",
            CUSTOMER_PAYLOAD,
            received,
        ),
        (
            "landing",
            "usage_events",
            LOCATION,
            REASON,
            PAYLOAD,
            received,
        ),
        (  # a line broken in transit: file and line, the reader's reason, the raw text
            "landing",
            REJECTED_RECORDS,
            f"{name}:4",
            "wrong column count: expected 4 columns, found 5",
            "usage_events,somewhere,why,{},surplus",
            received,
        ),
        (  # the header is not the column set: the file is rejected whole, and still shows
            "landing",
            REJECTED_RECORDS,
            "api-20261129T035000-node1-000002.csv",
            "unknown column set: expected ['dataset', 'location', 'reason', 'payload'], found ['dataset', 'reason']",
            "dataset,reason\nusage_events,why\n",
            received,
        ),
    ]

    drop(config.landing_path, name, api_rejections_file())  # the same file again: archived once
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
    assert again.run_requests == []
    result = run_days(defs, LANDING_STATE_JOB, None, None, instance)
    assert result.success, failure_messages(result)
    assert quarantined(config) == rows
