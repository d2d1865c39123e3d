"""Pushed and uploaded records reach the canonical tables through the landing zone, each once,
and a crash of the API after it answered loses nothing."""

from __future__ import annotations

import threading
import time

import httpx

from billing_pipelines_tests.ingest_api.pipeline import carry_landing, warehouse_rows

UPLOAD_HEADER = b"event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"


def usage(event_id: str, day: int = 20, quantity: str = "1") -> dict:
    return {
        "event_id": event_id,
        "customer_id": "cust-1",
        "metric": "api_calls",
        "timestamp": f"2026-11-{day:02d}T10:00:00Z",
        "quantity": quantity,
    }


def test_a_push_and_a_csv_upload_reach_billing_usage_events_once_per_event_id(start_api):
    api = start_api()
    key = api.key("usage:write", "uploads:write")
    with api.client(key) as client:
        pushed = client.post("/v1/usage-events", json=[usage("p-1"), usage("p-2", day=21), usage("bad", quantity="x")])
        upload = client.post(
            "/v1/uploads/usage_events",
            params={"file_name": "november.csv"},
            content=UPLOAD_HEADER
            + b"p-2,cust-1,api_calls,7,2026-11-21T11:00:00Z,\n"  # pushed with quantity 1: counts once, as pushed
            + b"u-1,cust-1,api_calls,2.5,2026-11-21T12:00:00Z,\n"
            + b"u-2,cust-1,api_calls,not-a-number,2026-11-21T13:00:00Z,\n",
            headers={"Content-Type": "text/csv"},
        )
        assert pushed.status_code == 202 and upload.status_code == 202
        upload_id = upload.json()["upload_id"]
        assert upload.json()["status"] == "received" and upload.json()["file_name"] == "november.csv"
    api.stop()  # seals the open landing files into the inbox

    requests = carry_landing(api.config_path)
    assert {request.job_name for request in requests} == {"landing_usage_by_day", "landing_state_sync"}

    events = warehouse_rows(
        api.config_path, "SELECT event_id, quantity::varchar FROM billing.usage_events ORDER BY event_id"
    )
    assert events == [("p-1", "1.000000000"), ("p-2", "1.000000000"), ("u-1", "2.500000000")]
    quarantined = warehouse_rows(api.config_path, "SELECT location, reason FROM billing.quarantine ORDER BY location")
    assert len(quarantined) == 3, quarantined
    assert any(location == f"upload-{upload_id}.csv:4" for location, _ in quarantined)
    conflict = "conflicting duplicate: event_id p-2 is already counted with other values (from landing)"
    assert (f"upload-{upload_id}.csv:2", conflict) in quarantined, "the other quantity stays visible"
    assert any("index 2" in location and reason.startswith("quantity: ") for location, reason in quarantined)

    api.start()
    with api.client(key) as client:
        status = client.get(f"/v1/uploads/{upload_id}").json()
    assert status["status"] == "processed"
    outcome = status["outcome"]
    assert (outcome["rows"], outcome["loaded"], outcome["quarantined"]) == (3, 1, 2)  # p-2 conflicts
    assert [error["line"] for error in outcome["row_errors"]] == [2, 4]
    assert outcome["upload_id"] == upload_id


def test_an_unknown_upload_and_a_file_with_other_columns_get_4xx(start_api):
    api = start_api()
    with api.client(api.key("uploads:write")) as client:
        assert client.get("/v1/uploads/doesnotexist").status_code == 404
        wrong = client.post("/v1/uploads/usage_events", content=b"id,amount\n1,2\n")
        assert wrong.status_code == 422
        assert "expected ['event_id'" in wrong.json()["error"]["message"]
        assert client.post("/v1/uploads/invoices", content=UPLOAD_HEADER).status_code == 422
    assert api.inbox_files("usage_events") == []


def test_a_killed_api_loses_no_acknowledged_event_and_counts_none_twice(start_api):
    """Clients push without pause; the API is killed (SIGKILL) mid-stream and restarted; the
    clients resend what was not answered, as a client that never heard back does."""
    api = start_api("segment_seconds: 0.5")
    key = api.key("usage:write")
    acknowledged: set[str] = set()
    unanswered: list[list[dict]] = []
    stop = threading.Event()

    def push_until_stopped(client_number: int) -> None:
        batch_number = 0
        with api.client(key) as client:
            while not stop.is_set():
                batch = [usage(f"c{client_number}-b{batch_number}-e{n}", day=20 + n % 8) for n in range(50)]
                batch_number += 1
                try:
                    answer = client.post("/v1/usage-events", json=batch)
                    answer.raise_for_status()
                    acknowledged.update(event["event_id"] for event in batch)
                except httpx.HTTPError:
                    unanswered.append(batch)
                    time.sleep(0.05)

    pushers = [threading.Thread(target=push_until_stopped, args=(n,)) for n in range(4)]
    for pusher in pushers:
        pusher.start()
    while len(acknowledged) < 5_000:
        time.sleep(0.05)
    api.kill()
    time.sleep(0.3)
    stop.set()
    for pusher in pushers:
        pusher.join()
    assert unanswered, "the kill should have cut some requests off"

    api.start()  # hands the killed process's open files to the inbox
    with api.client(key) as client:
        for batch in unanswered:
            answer = client.post("/v1/usage-events", json=batch)
            assert answer.status_code == 202
            acknowledged.update(event["event_id"] for event in batch)
    api.stop()

    carry_landing(api.config_path)
    counted = warehouse_rows(api.config_path, "SELECT event_id, count(*) FROM billing.usage_events GROUP BY event_id")
    assert {event_id for event_id, _ in counted} == acknowledged
    assert all(count == 1 for _, count in counted)
    assert warehouse_rows(api.config_path, "SELECT count(*) FROM billing.quarantine") == [(0,)]
