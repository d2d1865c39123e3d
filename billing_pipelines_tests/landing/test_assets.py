"""`materialize` of the landing raw load and the dbt models on a temporary DuckDB."""

from datetime import UTC, datetime

import dagster as dg
import duckdb

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.lib.runs import partition_range_tags

USAGE_CHAIN = [
    "raw_landing/usage_events",
    "staging/stg_landing__usage_events",
    "billing/usage_events",
    "billing/quarantine",
]


def test_materialize_landing_usage_through_dbt(project_config, tmp_path, write_usage_csv):
    config = project_config("landing: {path: landing}\n")
    write_usage_csv(
        "meter.csv",
        b"e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,{}\n"
        b",CUS-1,api_calls,4.5,2026-09-01T11:00:00Z,{}\n"  # no id: hashed
        b"e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,{}\n"  # sent twice: counted once
        b"e3,CUS-1,api_calls,lots,2026-09-01T12:00:00Z,{}\n"
        b"e4,CUS-2,api_calls,1,2026-09-02T00:00:00Z,{}\n",  # the next day: outside this run
    )
    accept_inbox(config.landing_path, datetime(2026, 9, 3, tzinfo=UTC), config.event_time_range)
    defs = build_definitions()
    first = datetime(2026, 9, 1).date()

    result = dg.materialize(
        [*defs.assets, *[c for c in defs.asset_checks or []]],
        selection=dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in USAGE_CHAIN]),
        resources=defs.resources,
        tags=partition_range_tags(first, first),
    )
    assert result.success
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        events = warehouse.execute(
            "SELECT event_id, quantity FROM billing.usage_events ORDER BY event_timestamp"
        ).fetchall()
        quarantined = warehouse.execute("SELECT location, reason FROM billing.quarantine").fetchall()
    assert [quantity for _, quantity in events] == [3, 4.5]
    assert events[0][0] == "e1" and len(events[1][0]) == 32  # md5 of the row for the id-less event
    assert quarantined == [("meter.csv:5", "unparsable quantity: 'lots'")]
