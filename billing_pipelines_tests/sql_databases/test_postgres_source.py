"""The SQL source against a real PostgreSQL server: typed values land in raw as delivered,
usage windows are stateless, and state loads only pick up what changed since the cursor."""

import json
from datetime import date
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa
from dagster_dlt import DagsterDltResource
from dlt.pipeline.state_sync import decompress_state

from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.lib.warehouse import Warehouse

SOURCE = """
sources:
  erp:
    kind: sql
    url_env: ERP_DATABASE_URL
    datasets:
      customers:
        table: public.accounts
        cursor: updated_at
        primary_key: id
      usage_events:
        query: |
          SELECT event_id, customer AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM metering.events
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


@pytest.fixture
def erp(postgres_url, monkeypatch):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS metering CASCADE; DROP TABLE IF EXISTS accounts"))
        connection.execute(
            sa.text("CREATE TABLE accounts (id int PRIMARY KEY, external_id text, name text, updated_at timestamptz)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO accounts VALUES (1, 'CUS-1', 'Acme', '2026-09-01 08:00+00'), (2, 'CUS-2', 'Globex', '2026-09-02 08:00+00'),"
                " (3, 'CUS-3', 'Initech', '2026-08-15 08:00+00')"
            )
        )
        connection.execute(
            sa.text(
                "CREATE SCHEMA metering; CREATE TABLE metering.events (event_id bigint PRIMARY KEY, customer text,"
                " metric text, quantity numeric(20, 9), occurred_at timestamptz, properties jsonb)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO metering.events VALUES"
                " (1, 'CUS-1', 'api_calls', 1.5, '2026-09-01 23:59:59.999+00', '{\"region\": \"eu\"}'),"
                " (2, 'CUS-1', 'api_calls', 0.000000001, '2026-09-02 00:00:00+00', '{\"tags\": [1, 2]}'),"
                # 01:30 on the 3rd in UTC, written with a -02:00 offset: belongs to the 3rd.
                " (3, 'CUS-2', 'storage_gb_hours', 12345678901.123456789, '2026-09-02 23:30:00-02:00', null),"
                " (4, 'CUS-2', 'api_calls', 7, '2026-09-05 12:00:00+00', '{}')"
            )
        )
    monkeypatch.setenv("ERP_DATABASE_URL", postgres_url)
    yield engine
    engine.dispose()


def load(config, tmp_path, **run):
    warehouse = Warehouse(path=str(config.warehouse_path))
    assets = sql_source_definitions(config).assets
    result = dg.materialize(
        [a for a in assets if isinstance(a, dg.AssetsDefinition)],
        resources={"dlt": DagsterDltResource(), "warehouse": warehouse},
        **run,
    )
    assert result.success
    return duckdb.connect(str(config.warehouse_path), read_only=True)


def test_usage_window_loads_postgres_types_exactly(erp, project_config, tmp_path):
    config = project_config(SOURCE)
    with load(
        config,
        tmp_path,
        selection="raw_erp/usage_events",
        tags={
            "dagster/asset_partition_range_start": "2026-09-01",
            "dagster/asset_partition_range_end": "2026-09-03",
        },
    ) as warehouse:
        rows = warehouse.execute(
            "SELECT event_id, quantity, event_timestamp, properties, _event_date FROM raw_erp.usage_events"
            " ORDER BY event_id"
        ).fetchall()
    assert [row[0] for row in rows] == [1, 2, 3]  # event 4 is outside the window
    assert [Decimal(row[1]) for row in rows] == [
        Decimal("1.5"),
        Decimal("0.000000001"),
        Decimal("12345678901.123456789"),
    ]
    assert json.loads(rows[1][3]) == {"tags": [1, 2]} and rows[2][3] is None
    assert rows[2][2].isoformat().startswith("2026-09-03T01:30:00")
    # the stored event day is the UTC day of the timestamptz, not the day of the offset it was written with
    assert [row[4] for row in rows] == [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)]


def test_rerunning_a_window_is_idempotent_and_backfills_leave_the_live_cursor(erp, project_config, tmp_path):
    config = project_config(SOURCE)
    window = {
        "dagster/asset_partition_range_start": "2026-09-01",
        "dagster/asset_partition_range_end": "2026-09-05",
    }
    load(config, tmp_path, selection="raw_erp/usage_events", tags=window).close()
    with erp.begin() as connection:
        connection.execute(sa.text("UPDATE metering.events SET quantity = 8 WHERE event_id = 4"))
    with load(config, tmp_path, selection="raw_erp/usage_events", tags=window) as warehouse:
        assert warehouse.execute(
            "SELECT count(*), sum(quantity::decimal(38,9)) FROM raw_erp.usage_events"
        ).fetchone() == (
            4,
            Decimal("12345678910.623456790"),
        )
        # A ranged backfill runs on throw-away state: it stores no usage cursor.
        assert "usage_events" not in _cursors(warehouse, "erp_usage")


def test_state_load_reads_only_rows_changed_since_the_cursor(erp, project_config, tmp_path):
    config = project_config(SOURCE)
    load(config, tmp_path, selection="raw_erp/customers").close()
    with erp.begin() as connection:
        connection.execute(
            sa.text("UPDATE accounts SET name = 'Acme Corp', updated_at = '2026-09-10 08:00+00' WHERE id = 1")
        )
    with load(config, tmp_path, selection="raw_erp/customers") as warehouse:
        rows = warehouse.execute("SELECT id, name FROM raw_erp.customers ORDER BY id").fetchall()
        loads = warehouse.execute(
            "SELECT count(*) FROM raw_erp.customers GROUP BY _dlt_load_id ORDER BY _dlt_load_id"
        ).fetchall()
        assert _cursors(warehouse, "erp_state")["customers"].startswith("2026-09-10")
    assert rows == [(1, "Acme Corp"), (2, "Globex"), (3, "Initech")]
    # The second load re-read only rows at or after the cursor (2026-09-02 08:00): the changed
    # row and the one on the boundary (the range is closed; the merge makes that harmless).
    assert loads == [(1,), (2,)]


def test_missing_url_variable_fails_the_run_with_its_name(project_config, tmp_path, monkeypatch):
    monkeypatch.delenv("ERP_DATABASE_URL", raising=False)
    config = project_config(SOURCE)
    assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        selection="raw_erp/customers",
        resources={"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))},
        raise_on_error=False,
    )
    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "ERP_DATABASE_URL is not set" in message


def _cursors(warehouse, pipeline_name: str) -> dict[str, str]:
    """Last cursor values dlt stored in the warehouse for a pipeline's resources."""
    row = warehouse.execute(
        "SELECT state FROM raw_erp._dlt_pipeline_state WHERE pipeline_name = ? ORDER BY created_at DESC LIMIT 1",
        [pipeline_name],
    ).fetchone()
    sources = decompress_state(row[0]).get("sources", {}) if row else {}
    resources = sources.get("erp", {}).get("resources", {})
    return {
        name: str(cursor["last_value"])
        for name, resource in resources.items()
        for cursor in resource.get("incremental", {}).values()
    }
