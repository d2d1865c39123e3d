"""The ingestion-event sensors on this project's real jobs: a landing run over uploaded files
leaves each file's outcome for the push API and tells the subscribed receivers; a failed run
tells those subscribed to `sync.failed`; nothing is sent twice, nothing carries a secret."""

import json
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from billing_pipelines.config import parse_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import LandedFile, accept_inbox
from billing_pipelines.defs.landing.sensors import LANDING_USAGE_JOB
from billing_pipelines.defs.webhooks.deliveries import delivery_policy, receivers_from
from billing_pipelines.defs.webhooks.outcomes import LandingRun, outcome, outcome_path
from billing_pipelines.defs.webhooks.sensors import (
    OUTCOMES_SENSOR,
    SYNC_FAILED_SENSOR,
    finished_files,
    webhook_sensors,
)
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES
from billing_pipelines_tests.webhooks.conftest import APP_SECRET, OPS_SECRET

DAY = date(2026, 9, 1)
HEADER = b"event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"


def webhooks_yaml(app_url: str, ops_url: str) -> str:
    return f"""\
landing: {{path: landing}}
webhooks:
  billing_app:
    url: "{app_url}"
    secret_env: APP_WEBHOOK_SECRET
    events: [upload.processed, events.quarantined]
  ops:
    url: "{ops_url}"
    secret_env: OPS_WEBHOOK_SECRET
    events: [sync.failed]
"""


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None):
    """One evaluation as the daemon makes it: (its result, what it logged)."""
    log_key = ["webhooks_test", sensor.name, uuid.uuid4().hex]
    with dg.SensorEvaluationContext(
        instance_ref=instance.get_ref(), instance=instance, cursor=cursor, log_key=log_key, sensor_name=sensor.name
    ) as context:
        result = sensor.evaluate_tick(context)
    return result, (instance.compute_log_manager.get_log_data(log_key).stderr or b"").decode()


def land(root, name: str, body: bytes, received_at: datetime) -> None:
    inbox = root / "usage_events"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(HEADER + body)
    accept_inbox(root, received_at, TEST_EVENT_TIMES)


@contextmanager
def writing_process(warehouse: Path):
    """Another process holding the DuckDB warehouse open for writing, as a run's load does."""
    holder = "import duckdb, sys; connection = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    process = subprocess.Popen(
        [sys.executable, "-c", holder, str(warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "open"
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=30)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_a_landing_run_writes_each_files_outcome_and_tells_the_subscribers(
    project_config, app_receiver, ops_receiver, secrets, instance
):
    config = project_config(webhooks_yaml(app_receiver.url, ops_receiver.url))
    defs = build_definitions()
    sensor = next(s for s in defs.sensors if s.name == OUTCOMES_SENSOR)
    started, _ = tick(sensor, instance)  # the first tick only marks where the sensor starts
    now = datetime.now(UTC)
    # two uploads with the same name, one after the other: their outcomes must not mix
    land(
        config.landing_path,
        "meter.csv",
        b"e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,{}\n"
        b"e2,CUS-1,api_calls,lots,2026-09-01T11:00:00Z,{}\n"
        b"e3,CUS-2,api_calls,1,2026-09-01T12:00:00Z,{}\n",
        now - timedelta(seconds=2),
    )
    land(
        config.landing_path,
        "meter.csv",
        b"e4,CUS-3,api_calls,2,2026-09-01T13:00:00Z,{}\n"
        b"e5,CUS-3,api_calls,2,2026-09-01T14:00:00Z,{}\n"
        b"e6,,api_calls,1,2026-09-01T15:00:00Z,{}\n"
        b"e7,CUS-3,api_calls,many,2026-09-01T16:00:00Z,{}\n",
        now - timedelta(seconds=1),
    )
    result = run_days(defs, LANDING_USAGE_JOB, DAY, DAY, instance)
    assert result.success, failure_messages(result)
    run_id = result.dagster_run.run_id

    with writing_process(config.warehouse_path):  # DuckDB lets no other process read meanwhile
        busy, _ = tick(sensor, instance, started.cursor)
    assert "being written by another process" in busy.skip_message and busy.cursor == started.cursor
    assert not (config.landing_path / "outcomes").exists() and app_receiver.requests == 0

    done, log = tick(sensor, instance, busy.cursor)

    outcomes = sorted(
        (json.loads(path.read_text()) for path in (config.landing_path / "outcomes").glob("*.json")),
        key=lambda record: record["received_at"],
    )
    first, second = outcomes
    assert {k: first[k] for k in ("status", "rows", "loaded", "quarantined", "run_id", "file_name")} == {
        "status": "processed",
        "rows": 3,
        "loaded": 2,
        "quarantined": 1,
        "run_id": run_id,
        "file_name": "meter.csv",
    }
    assert first["quarantine_reasons"] == {"unparsable quantity: 'lots'": 1}
    assert first["row_errors"] == [{"line": 3, "reason": "unparsable quantity: 'lots'"}]
    assert (second["rows"], second["loaded"], second["quarantined"]) == (4, 2, 2)
    assert [error["line"] for error in second["row_errors"]] == [4, 5]
    assert (
        sum(second["quarantine_reasons"].values()) == 2
        and "unparsable quantity: 'many'" in second["quarantine_reasons"]
    )
    assert (
        first["processed_at"] == datetime.fromtimestamp(instance.get_run_record_by_id(run_id).end_time, UTC).isoformat()
    )

    sent = [(p["type"], p["data"]["digest"]) for p in app_receiver.payloads]  # each verified with its secret
    assert sorted(sent) == sorted(
        [(kind, record["digest"]) for record in outcomes for kind in ("upload.processed", "events.quarantined")]
    )
    assert app_receiver.payloads[0]["data"] == first
    assert ops_receiver.requests == 0  # subscribed to sync.failed only
    assert "2 outcomes written from 1 landing runs" in done.skip_message
    assert "usage_events/meter.csv: 2 loaded, 1 quarantined" in log and "delivered (HTTP 204)" in log

    again, _ = tick(sensor, instance, done.cursor)
    assert "0 outcomes written" in again.skip_message and len(app_receiver.payloads) == 4
    for text in [log, *(body.decode() for _, body in app_receiver.deliveries)]:
        assert APP_SECRET not in text and OPS_SECRET not in text


def test_a_failed_run_sends_sync_failed_to_its_subscribers_only(app_receiver, ops_receiver, secrets, instance):
    config = parse_config(
        'history_start: "2026-08-01"\nwarehouse: {path: unused.duckdb}\n'
        + webhooks_yaml(app_receiver.url, ops_receiver.url)
    )
    [sensor] = [
        s for s in webhook_sensors(config, receivers_from(config), delivery_policy()) if s.name == SYNC_FAILED_SENSOR
    ]

    @dg.asset(key=["raw_app_db", "usage_events"])
    def breaks():
        raise ConnectionError(f"could not sign with {OPS_SECRET}")

    started, _ = tick(sensor, instance)
    failed = dg.materialize([breaks], instance=instance, raise_on_error=False)
    _, log = tick(sensor, instance, started.cursor)

    [payload] = ops_receiver.payloads
    assert payload["type"] == "sync.failed"
    data = payload["data"]
    assert data["run_id"] == failed.dagster_run.run_id and data["failed_assets"] == ["raw_app_db/usage_events"]
    assert "could not sign with [redacted]" in "\n".join(data["error"])
    assert app_receiver.requests == 0
    webhook_id = ops_receiver.request_headers[0]["webhook-id"]
    assert f"webhook sync.failed {webhook_id} to ops: try 1 of 4: delivered" in log
    for text in [log, *(body.decode() for _, body in ops_receiver.deliveries)]:
        assert OPS_SECRET not in text and OPS_SECRET.removeprefix("whsec_") not in text


def test_a_usage_file_on_separate_days_is_complete_when_its_last_range_is_loaded():
    spread = LandedFile(
        "usage_events", "late.csv", "a" * 16, datetime(2026, 9, 9, tzinfo=UTC), "archive/x", (DAY, date(2026, 9, 5))
    )
    first_run = LandingRun("r1", datetime(2026, 9, 9, tzinfo=UTC), datetime(2026, 9, 9, tzinfo=UTC), (DAY, DAY))
    second_run = LandingRun(
        "r2", datetime(2026, 9, 9, tzinfo=UTC), datetime(2026, 9, 9, tzinfo=UTC), (date(2026, 9, 5), date(2026, 9, 5))
    )

    finished, waiting = finished_files([spread], first_run, {}, date(2026, 8, 1))
    assert finished == [] and waiting == {spread.digest: [date(2026, 9, 5)]}
    finished, waiting = finished_files([spread], second_run, waiting, date(2026, 8, 1))
    assert finished == [spread] and waiting == {}


def test_a_file_rejected_whole_has_a_rejected_outcome_with_its_reason(tmp_path):
    rejected = LandedFile(
        "customers",
        "upload-9b1e0c.csv",
        "b" * 16,
        datetime(2026, 9, 9, tzinfo=UTC),
        "rejected/x",
        reason="unknown column set",
    )
    run = LandingRun("r1", datetime(2026, 9, 9, tzinfo=UTC), datetime(2026, 9, 9, 0, 1, tzinfo=UTC), None)
    record = outcome(rejected, None, run)
    assert record["status"] == "rejected" and record["reason"] == "unknown column set"
    assert record["upload_id"] == "9b1e0c" and record["rows"] is None and record["row_errors"] == []
    assert outcome_path(tmp_path, rejected.digest) == tmp_path / "outcomes" / f"{'b' * 16}.json"


def test_the_shipped_example_subscription_parses():
    from billing_pipelines.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "billing.yaml").read_text()
    example = text[text.index("# webhooks:") :].split("\n\n", 1)[0]
    config = parse_config('history_start: "2026-08-01"\n' + "\n".join(line[2:] for line in example.splitlines()))
    assert config.webhooks["billing_app"].events == ["upload.processed", "events.quarantined", "sync.failed"]
