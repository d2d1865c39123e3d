"""Usage events outside the partitioned range (before history_start, or too far after they
arrived) are quarantined with that reason by the run of the file's other days; they never fail
the run, never reach the marts, and never take a neighbouring valid row down with them."""

from datetime import UTC, datetime

import dagster as dg

from billing_pipelines_tests.ingest_api.pipeline import carry_landing, warehouse_rows

HEADER = "event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
CUSTOMERS = "external_id,name,email,phone,line1,line2,city,state,postal_code,country,tax_id,currency,updated_at\n"


def write_config(root, tolerance_minutes: int | None = None):
    path = root / "billing.yaml"
    tolerance = f"future_tolerance_minutes: {tolerance_minutes}\n" if tolerance_minutes is not None else ""
    path.write_text(
        f'history_start: "2026-08-01"\n{tolerance}warehouse: {{path: warehouse.duckdb}}\nlanding: {{path: landing}}\n'
    )
    return path


def drop(root, dataset: str, name: str, text: str) -> None:
    inbox = root / "landing" / dataset
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(text)


def quarantine(config_path) -> dict[str, str]:
    rows = warehouse_rows(config_path, "SELECT location, reason FROM billing.quarantine WHERE dataset = 'usage_events'")
    return dict(rows)


def test_events_outside_the_range_are_quarantined_and_their_neighbours_counted(tmp_path):
    config_path = write_config(tmp_path)
    drop(tmp_path, "customers", "c.csv", CUSTOMERS + "CUS-1,Acme,,,,,,,,,,USD,\n")
    drop(
        tmp_path,
        "usage_events",
        "meter.csv",
        HEADER
        + "early,CUS-1,api_calls,5,2026-07-31T23:00:00Z,{}\n"  # the day before history_start
        + "first,CUS-1,api_calls,2,2026-08-01T00:00:00Z,{}\n"  # its first instant: counted
        + "late,CUS-1,api_calls,7,2031-05-05T00:00:00Z,{}\n",  # years after it arrived
    )
    requests = carry_landing(config_path)  # fails the test if any run fails

    usage_ranges = [r.partition_key_range for r in requests if r.partition_key_range is not None]
    assert usage_ranges == [dg.PartitionKeyRange("2026-08-01", "2026-08-01")]  # no key outside the partitions
    assert warehouse_rows(config_path, "SELECT event_id, quantity FROM billing.usage_events") == [("first", 2)]
    assert quarantine(config_path) == {
        "meter.csv:2": "event_timestamp before history_start 2026-08-01 (no partition holds it): '2026-07-31T23:00:00Z'",
        "meter.csv:4": "event_timestamp more than 60 minutes after the record arrived (no partition holds it yet): "
        "'2031-05-05T00:00:00Z'",
    }
    billed = warehouse_rows(config_path, "SELECT usage_date, total_quantity FROM billing.billable_usage_daily")
    assert [(str(day), int(total)) for day, total in billed] == [("2026-08-01", 2)]


def test_a_file_with_only_events_outside_the_range_is_loaded_and_quarantined_row_by_row(tmp_path):
    config_path = write_config(tmp_path, tolerance_minutes=0)
    now = datetime.now(UTC)
    drop(
        tmp_path,
        "usage_events",
        "future.csv",
        HEADER
        + f"soon,CUS-1,api_calls,1,{now.replace(year=now.year + 1).isoformat()},{{}}\n"
        + "old,CUS-1,api_calls,1,2020-01-01T00:00:00Z,{}\n",
    )
    [request] = carry_landing(config_path)
    assert request.partition_key_range == dg.PartitionKeyRange(now.date().isoformat(), now.date().isoformat())
    reasons = quarantine(config_path)
    assert reasons["future.csv:2"].startswith("event_timestamp more than 0 minutes after the record arrived")
    assert reasons["future.csv:3"].startswith("event_timestamp before history_start 2026-08-01")
    assert warehouse_rows(config_path, "SELECT count(*) FROM billing.usage_events") == [(0,)]
