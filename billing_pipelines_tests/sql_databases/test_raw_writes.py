"""How a load writes raw when a source delivers one key twice: usage keeps both deliveries (the
canonical model decides between them, visibly), state keeps the later version; either way a
re-run replaces what it delivered, never appends it again."""

from datetime import date

import duckdb
import pytest
import sqlalchemy as sa

from billing_pipelines.lib.runs import partition_range_tags

SOURCE = """
sources:
  app:
    kind: sql
    url_env: APP_DATABASE_URL
    datasets:
      usage_events:
        query: |
          SELECT event_id, customer_external_id, metric, quantity, event_timestamp
          FROM (SELECT * FROM meter_events UNION ALL SELECT * FROM meter_events WHERE event_id = 1) AS delivered
          WHERE event_timestamp >= :window_start AND event_timestamp < :window_end
        cursor: event_timestamp
        primary_key: event_id
      customers:
        query: |
          SELECT account_id, name, updated_at
          FROM (SELECT 7 AS account_id, 'Old name' AS name, timestamptz '2026-09-01 10:00:00+00' AS updated_at
                UNION ALL
                SELECT 7, 'New name', timestamptz '2026-09-01 11:00:00+00'
                UNION ALL
                SELECT 8, 'Other', timestamptz '2026-09-01 09:00:00+00') AS versions
          WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: account_id
"""
DAY = partition_range_tags(date(2026, 9, 1), date(2026, 9, 1))


@pytest.fixture
def meter_events(postgres_url, monkeypatch):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS meter_events"))
        connection.execute(
            sa.text(
                "CREATE TABLE meter_events AS SELECT g::bigint AS event_id, 'CUS-1' AS customer_external_id,"
                " 'api_calls' AS metric, g::numeric(20, 9) AS quantity,"
                " timestamptz '2026-09-01 00:00:00+00' + g * interval '1 hour' AS event_timestamp"
                " FROM generate_series(1, 5) AS g"
            )
        )
    monkeypatch.setenv("APP_DATABASE_URL", postgres_url)
    yield
    engine.dispose()


def raw(config, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        return warehouse.execute(sql).fetchall()


def test_usage_delivered_twice_in_a_window_keeps_both_deliveries_and_a_rerun_replaces_them(
    meter_events, project_config, load_raw
):
    config = project_config(SOURCE)
    for _ in range(2):
        assert load_raw(config, selection="raw_app/usage_events", tags=DAY).success
        rows = raw(config, "SELECT event_id, count(*) FROM raw_app.usage_events GROUP BY 1 ORDER BY 1")
        assert rows == [(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)]


def test_state_read_in_two_versions_by_one_load_keeps_the_later_one(meter_events, project_config, load_raw):
    config = project_config(SOURCE)
    for _ in range(2):
        assert load_raw(config, selection="raw_app/customers").success
        assert raw(config, "SELECT account_id, name FROM raw_app.customers ORDER BY 1") == [
            (7, "New name"),
            (8, "Other"),
        ]


def test_a_usage_row_without_its_key_fails_the_window_naming_it_and_writes_nothing(
    meter_events, project_config, load_raw, postgres_url
):
    config = project_config(SOURCE)
    assert load_raw(config, selection="raw_app/usage_events", tags=DAY).success
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:  # the source now holds an event it gives no id
        connection.execute(sa.text("ALTER TABLE meter_events ALTER COLUMN event_id DROP NOT NULL"))
        connection.execute(
            sa.text(
                "INSERT INTO meter_events VALUES (NULL, 'CUS-1', 'api_calls', 9, timestamptz '2026-09-01 12:30:00+00'),"
                " (6, 'CUS-1', 'api_calls', 6, timestamptz '2026-09-01 13:00:00+00')"
            )
        )
    engine.dispose()
    result = load_raw(config, selection="raw_app/usage_events", tags=DAY, raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "app: 1 usage row(s) of this window have no event_id, the primary key" in message
    assert "COALESCE(event_id, md5(" in message
    rows = raw(config, "SELECT event_id, count(*) FROM raw_app.usage_events GROUP BY 1 ORDER BY 1")
    assert rows == [(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)]  # nothing of the failed window was written
