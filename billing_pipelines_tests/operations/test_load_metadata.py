"""What an operator reads on a real materialization: how many rows a load brought (exactly the
source's rows in the window), what it did to the table, the window or the cursor it read, what went
to quarantine and why, and a preview of a few rows; each with the real table's address."""

import sqlite3
from datetime import UTC, date, datetime

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.lib.asset_metadata import PREVIEW_ROWS
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.warehouse import warehouse_for
from billing_pipelines_tests.operations.conftest import USAGE_DAY

DAY = date.fromisoformat(USAGE_DAY)
USAGE = dg.AssetKey(["raw_app_db", "usage_events"])
CUSTOMERS = dg.AssetKey(["raw_app_db", "customers"])


def materialized(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict]:
    """Each materialized asset's metadata values."""
    assert result.success
    return {
        event.asset_key: {name: value.value for name, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def preview_lines(markdown: str) -> list[str]:
    header, rule, *rows = markdown.splitlines()
    assert header.startswith("| ") and rule.startswith("|---")
    return rows


@pytest.fixture
def load_app(app_project):
    """Materialize one raw load of the app database; returns its metadata."""
    config = app_project()
    assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    resources = {"dlt": DagsterDltResource(), "warehouse": warehouse_for(config)}

    def load(key: dg.AssetKey, **run) -> dict:
        return materialized(dg.materialize(assets, resources=resources, selection=[key], **run))[key]

    return config, load


def test_a_usage_load_shows_the_window_its_rows_and_a_preview(load_app, tmp_path):
    config, load = load_app
    with sqlite3.connect(tmp_path / "app.sqlite") as source:
        in_window = source.execute(
            "select count(*) from usage where event_timestamp >= ? and event_timestamp < ?",
            (f"{DAY} 00:00:00", "2026-09-02 00:00:00"),
        ).fetchone()[0]
    assert in_window == 7

    first = load(USAGE, tags=partition_range_tags(DAY, DAY))

    assert first["rows_loaded"] == in_window
    assert (first["rows_inserted"], first["rows_replaced"], first["rows_in_window"]) == (in_window, 0, in_window)
    assert "dagster/row_count" not in first  # a partitioned load counts its days, never the whole history
    assert first["window_start"] == datetime(2026, 9, 1, tzinfo=UTC).timestamp()
    assert first["window_end"] == datetime(2026, 9, 2, tzinfo=UTC).timestamp()
    assert first["dagster/table_name"] == "warehouse.raw_app_db.usage_events"
    rows = preview_lines(first["preview"])
    assert len(rows) == PREVIEW_ROWS and all("CUS-" in row for row in rows)
    assert "_dlt_" not in first["preview"]
    columns = {column.name: column.type for column in first["dagster/column_schema"].columns}
    assert {"event_id", "quantity", "event_timestamp"} <= set(columns)

    again = load(USAGE, tags=partition_range_tags(DAY, DAY))  # the same window: replaced, not added

    assert (again["rows_loaded"], again["rows_inserted"], again["rows_replaced"]) == (in_window, 0, in_window)
    assert again["rows_in_window"] == in_window


def test_a_state_load_shows_the_cursor_where_the_next_sync_starts(load_app, tmp_path):
    config, load = load_app
    first = load(CUSTOMERS)
    assert (first["rows_loaded"], first["rows_inserted"]) == (2, 2)
    assert first["cursor"] == {"updated_at": "2026-09-02 10:00:00"}
    assert "Acme \\| Ltd" in first["preview"]  # a value's pipe cannot break the table

    with sqlite3.connect(tmp_path / "app.sqlite") as source:
        source.execute(
            "update accounts set name = 'Acme Group', updated_at = '2026-09-03 08:00:00' where account_id = 1"
        )
    changed = load(CUSTOMERS)

    # the changed account, and the one on the cursor itself (a cursor is inclusive): both replaced
    assert (changed["rows_loaded"], changed["rows_inserted"], changed["rows_replaced"]) == (2, 0, 2)
    assert changed["cursor"] == {"updated_at": "2026-09-03 08:00:00"}
    assert changed["dagster/row_count"] == 2


def test_quarantine_by_reason_for_a_landing_file_with_a_bad_row_and_a_rejected_file(project_config, tmp_path):
    config = project_config("landing: {path: landing}\n")
    inbox = tmp_path / "landing" / "usage_events"
    inbox.mkdir(parents=True)
    (inbox / "meter.csv").write_text(
        "event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
        "e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,{}\n"
        "e2,CUS-1,api_calls,lots,2026-09-01T11:00:00Z,{}\n"
        "e3,CUS-2,api_calls,2,2026-09-01T12:00:00Z,{}\n"
    )
    (inbox / "export.csv").write_text("id,amount\nch_1,100\n")  # not a usage file: rejected whole
    accept_inbox(config.landing_path, datetime(2026, 9, 3, tzinfo=UTC), config.event_time_range)
    defs = build_definitions()
    chain = [
        ["raw_landing", "usage_events"],
        ["raw_landing", "rejected_files"],
        ["staging", "stg_landing__usage_events"],
        ["billing", "usage_events_quarantine"],
        ["billing", "usage_events"],
        ["billing", "quarantine"],
    ]

    metadata = materialized(
        dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=dg.AssetSelection.assets(*[dg.AssetKey(path) for path in chain]),
            resources=defs.resources,
            tags=partition_range_tags(DAY, DAY),
        )
    )

    rejected = metadata[dg.AssetKey(["raw_landing", "rejected_files"])]
    [(reason, files)] = rejected["rows_quarantined_by_reason"].items()
    assert reason.startswith("unknown column set") and files == 1 == rejected["rows_quarantined"]
    usage = metadata[dg.AssetKey(["billing", "usage_events"])]
    assert usage["rows_quarantined_by_reason"] == {"unparsable quantity: 'lots'": 1}
    assert usage["dagster/table_name"] == "warehouse.billing.usage_events"
    assert len(preview_lines(usage["preview"])) == 2
    assert {"event_id": "VARCHAR"}.items() <= {c.name: c.type for c in usage["dagster/column_schema"].columns}.items()
    quarantine_view = metadata[dg.AssetKey(["billing", "quarantine"])]
    assert "preview" not in quarantine_view and "rows_quarantined" not in quarantine_view  # a view: columns only
    assert metadata[dg.AssetKey(["raw_landing", "usage_events"])]["window_start"] == (
        datetime(2026, 9, 1, tzinfo=UTC).timestamp()
    )
