"""The SQL source against a real MySQL-protocol server (MariaDB here): DATETIME windows bound
as naive UTC, DECIMAL and JSON kept exact, a re-run window merged rather than duplicated."""

import json
from datetime import date
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa
from dagster_dlt import DagsterDltResource

from billing_pipelines.defs.sql_databases.assets import sql_source_definitions
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.warehouse import Warehouse

SOURCE = """
sources:
  shop:
    kind: sql
    url_env: SHOP_DATABASE_URL
    datasets:
      usage_events:
        table: meter_events
        cursor: event_timestamp
        primary_key: event_id
"""


@pytest.fixture
def shop(mysql_url, monkeypatch):
    engine = sa.create_engine(mysql_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS meter_events"))
        connection.execute(
            sa.text(
                "CREATE TABLE meter_events (event_id BIGINT PRIMARY KEY, customer_external_id VARCHAR(40),"
                " metric VARCHAR(40), quantity DECIMAL(20, 9), event_timestamp DATETIME(6), properties JSON)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO meter_events VALUES"
                " (1, 'CUS-1', 'api_calls', 2.5, '2026-09-01 00:00:00', :props),"
                " (2, 'CUS-1', 'api_calls', 0.000000001, '2026-09-01 23:59:59.999999', NULL),"
                " (3, 'CUS-2', 'api_calls', 4, '2026-09-02 00:00:00', '{}')"
            ),
            {"props": json.dumps({"region": "eu"})},
        )
    monkeypatch.setenv("SHOP_DATABASE_URL", mysql_url)
    yield engine
    engine.dispose()


def test_usage_window_from_mysql_is_exact_and_idempotent(shop, project_config):
    config = project_config(SOURCE)
    assets = [a for a in sql_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    for _ in range(2):
        result = dg.materialize(
            assets,
            resources={"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))},
            tags=partition_range_tags(date(2026, 9, 1), date(2026, 9, 1)),
        )
        assert result.success
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        rows = warehouse.execute(
            "SELECT event_id, quantity, properties FROM raw_shop.usage_events ORDER BY 1"
        ).fetchall()
    assert [row[0] for row in rows] == [1, 2]  # the window is the UTC day; event 3 is the next one
    assert [Decimal(row[1]) for row in rows] == [Decimal("2.5"), Decimal("0.000000001")]
    assert json.loads(rows[0][2]) == {"region": "eu"}
