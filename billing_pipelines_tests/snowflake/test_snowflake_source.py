"""The Snowflake source against the fakesnow stand-in, through the same connector code as in
production: a usage backfill lands exactly what Snowflake itself counts for the window, state
loads follow the cursor, and nothing from the data, the config or a partition key reaches SQL."""

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from dagster_dlt import DagsterDltResource

from billing_pipelines.config import ConfigError
from billing_pipelines.defs.snowflake.assets import snowflake_source_definitions
from billing_pipelines.lib.warehouse import Warehouse
from billing_pipelines_tests.snowflake.conftest import HOSTILE_METRIC, PASSWORD_ENV, SEED_EVENTS

USAGE = """
      usage_events:
        query: |
          SELECT EVENT_ID AS event_id, ACCOUNT_EXTERNAL_ID AS customer_external_id, METRIC AS metric,
                 QUANTITY AS quantity, OCCURRED_AT AS event_timestamp, PROPERTIES AS properties
          FROM METERED_USAGE
          WHERE OCCURRED_AT >= :window_start AND OCCURRED_AT < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
SEPTEMBER_1_TO_3 = {
    "dagster/asset_partition_range_start": "2026-09-01",
    "dagster/asset_partition_range_end": "2026-09-03",
}
# The explicit cast keeps fakesnow's SUM exact (it sums an uncast column as DOUBLE; Snowflake does not).
SOURCE_DAILY_USAGE = """
    SELECT ACCOUNT_EXTERNAL_ID, METRIC, TO_DATE(CONVERT_TIMEZONE('UTC', OCCURRED_AT)), COUNT(*),
           SUM(QUANTITY::NUMBER(38, 9))
    FROM METERED_USAGE WHERE OCCURRED_AT >= :1 AND OCCURRED_AT < :2 GROUP BY 1, 2, 3
"""
RAW_DAILY_USAGE = """
    SELECT customer_external_id, metric, _event_date, count(*), sum(quantity)
    FROM raw_usage_lake.usage_events GROUP BY ALL
"""


def _assets(config) -> list[dg.AssetsDefinition]:
    return [a for a in snowflake_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]


def materialize(config, **run) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        _assets(config),
        resources={"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))},
        **run,
    )


def load(config, **run) -> duckdb.DuckDBPyConnection:
    assert materialize(config, **run).success
    return duckdb.connect(str(config.warehouse_path), read_only=True)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return str(result.get_step_failure_events()[0].event_specific_data.error)


def test_usage_backfill_equals_snowflakes_own_daily_aggregate_and_reruns_change_nothing(usage_lake, snowflake_config):
    # Written with offsets: 01:30 on the 3rd and 23:00 on the 3rd in UTC, whatever the written date says.
    usage_lake.execute(
        "INSERT INTO METERED_USAGE SELECT 'e-10', 'CUS-2', 'api_calls', 0.5, '2026-09-02 23:30:00 -02:00'::timestamp_tz, NULL"
    )
    usage_lake.execute(
        "INSERT INTO METERED_USAGE SELECT 'e-11', 'CUS-2', 'api_calls', 0.25, '2026-09-04 01:00:00 +02:00'::timestamp_tz, NULL"
    )
    config = snowflake_config(USAGE)
    window = [("TIMESTAMP_TZ", datetime(2026, 9, 1, tzinfo=UTC)), ("TIMESTAMP_TZ", datetime(2026, 9, 4, tzinfo=UTC))]
    expected = set(usage_lake.execute(SOURCE_DAILY_USAGE, window).fetchall())

    with load(config, selection="raw_usage_lake/usage_events", tags=SEPTEMBER_1_TO_3) as warehouse:
        loaded = set(warehouse.execute(RAW_DAILY_USAGE).fetchall())
        types = dict(
            warehouse.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'raw_usage_lake' AND table_name = 'usage_events'"
            ).fetchall()
        )
        days = dict(warehouse.execute("SELECT event_id, _event_date FROM raw_usage_lake.usage_events").fetchall())
        properties = warehouse.execute("SELECT properties FROM raw_usage_lake.usage_events WHERE event_id = 'e-02'")
        assert json.loads(properties.fetchone()[0]) == {"tags": [1, 2]}

    assert loaded == expected
    assert sorted(days) == ["e-02", "e-03", "e-04", "e-05", "e-06", "e-07", "e-08", "e-10", "e-11"]
    assert days["e-10"] == days["e-11"] == date(2026, 9, 3)
    assert (
        CUS_2_STORAGE := ("CUS-2", "storage_gb_hours", date(2026, 9, 3), 1, Decimal("99999999999999999999.999999999"))
    ) in loaded
    assert CUS_2_STORAGE in expected
    assert types["quantity"] == "DECIMAL(38,9)" and types["event_timestamp"] == "TIMESTAMP WITH TIME ZONE"

    with load(config, selection="raw_usage_lake/usage_events", tags=SEPTEMBER_1_TO_3) as warehouse:
        assert set(warehouse.execute(RAW_DAILY_USAGE).fetchall()) == expected
        assert warehouse.execute("SELECT count(*) FROM raw_usage_lake.usage_events").fetchone() == (9,)


def test_a_state_table_loads_only_rows_changed_since_the_cursor(usage_lake, snowflake_config):
    usage_lake.execute(
        "CREATE OR REPLACE TABLE ACCOUNTS (ID NUMBER, EXTERNAL_ID VARCHAR, NAME VARCHAR, UPDATED_AT TIMESTAMP_TZ)"
    )
    usage_lake.execute(
        "INSERT INTO ACCOUNTS SELECT 1, 'CUS-1', 'Acme', '2026-09-01 08:00:00 +00:00'::timestamp_tz"
        " UNION ALL SELECT 2, 'CUS-2', 'Globex', '2026-09-02 08:00:00 +00:00'::timestamp_tz"
        " UNION ALL SELECT 3, 'CUS-3', 'Initech', '2026-08-15 08:00:00 +00:00'::timestamp_tz"
    )
    config = snowflake_config(
        """
      customers:
        table: metering.accounts
        cursor: updated_at
        primary_key: id
"""
    )
    load(config, selection="raw_usage_lake/customers").close()
    usage_lake.execute(
        "UPDATE ACCOUNTS SET NAME = 'Acme Corp', UPDATED_AT = '2026-09-10 08:00:00 +00:00'::timestamp_tz WHERE ID = 1"
    )
    with load(config, selection="raw_usage_lake/customers") as warehouse:
        rows = warehouse.execute("SELECT id, name FROM raw_usage_lake.customers ORDER BY id").fetchall()
        loads = warehouse.execute(
            "SELECT count(*) FROM raw_usage_lake.customers GROUP BY _dlt_load_id ORDER BY _dlt_load_id"
        ).fetchall()
    assert rows == [(1, "Acme Corp"), (2, "Globex"), (3, "Initech")]
    # The second load read from the cursor (2026-09-02 08:00) on: the changed row and the boundary row.
    assert loads == [(1,), (2,)]


def test_hostile_values_and_window_names_in_literals_load_as_plain_text(usage_lake, snowflake_config):
    config = snowflake_config(
        """
      usage_events:
        query: |
          SELECT EVENT_ID AS event_id, ACCOUNT_EXTERNAL_ID AS customer_external_id, METRIC AS metric,
                 QUANTITY AS quantity, OCCURRED_AT AS event_timestamp,
                 PROPERTIES AS properties, 'it''s :window_start' AS note  -- not :window_end either
          FROM METERED_USAGE
          WHERE OCCURRED_AT >= :window_start AND OCCURRED_AT < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
    )
    window = {"dagster/asset_partition_range_start": "2026-09-03", "dagster/asset_partition_range_end": "2026-09-03"}
    with load(config, selection="raw_usage_lake/usage_events", tags=window) as warehouse:
        rows = warehouse.execute(
            "SELECT event_id, metric, properties, note FROM raw_usage_lake.usage_events"
        ).fetchall()
    assert sorted(row[0] for row in rows) == ["e-07", "e-08"]
    hostile = next(row for row in rows if row[0] == "e-08")
    assert hostile[1] == HOSTILE_METRIC
    assert json.loads(hostile[2]) == {"note": "'; DROP TABLE x; --"}
    assert {row[3] for row in rows} == {"it's :window_start"}
    assert usage_lake.execute("SELECT COUNT(*) FROM METERED_USAGE").fetchone() == (len(SEED_EVENTS),)


def test_a_table_name_that_could_change_the_statement_fails_the_load(snowflake_config):
    config = snowflake_config(
        """
      usage_events:
        table: "metered_usage; DROP TABLE metered_usage; --"
        cursor: occurred_at
        primary_key: event_id
"""
    )
    with pytest.raises(ConfigError, match=r"sources\.usage_lake\.datasets\.usage_events: .* is not a Snowflake name"):
        snowflake_source_definitions(config)


HOSTILE_DAY = "2026-09-01'); DROP TABLE METERED_USAGE; --"


@pytest.mark.parametrize(
    ("run", "refusal"),
    [
        ({"partition_key": HOSTILE_DAY}, "Could not find a partition"),
        (
            {
                "tags": {
                    "dagster/asset_partition_range_start": HOSTILE_DAY,
                    "dagster/asset_partition_range_end": "2026-09-03",
                }
            },
            "does not match format",
        ),
    ],
)
def test_a_partition_key_that_is_not_a_date_is_refused_before_the_run(usage_lake, snowflake_config, run, refusal):
    config = snowflake_config(USAGE)
    with pytest.raises((dg.DagsterUnknownPartitionError, ValueError), match=refusal):
        materialize(config, **run)
    assert usage_lake.execute("SELECT COUNT(*) FROM METERED_USAGE").fetchone() == (len(SEED_EVENTS),)


def test_a_missing_password_variable_fails_the_run_with_its_name(snowflake_config, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = snowflake_config(USAGE)
    result = materialize(config, tags=SEPTEMBER_1_TO_3, raise_on_error=False)
    assert f"environment variable {PASSWORD_ENV} is not set" in failure_message(result)


def test_the_password_never_shows_in_errors_or_logs(usage_lake, snowflake_config, monkeypatch, caplog):
    secret = "Pw-0f3a-must-never-show"
    monkeypatch.setenv(PASSWORD_ENV, secret)
    config = snowflake_config(USAGE.replace("FROM METERED_USAGE", "FROM METERED_USAGE_GONE"))
    caplog.set_level(logging.DEBUG)
    result = materialize(config, tags=SEPTEMBER_1_TO_3, raise_on_error=False)
    message = failure_message(result)
    assert "METERED_USAGE_GONE" in message  # logged in with the secret, then failed on the query
    assert secret not in message
    assert "snowflake.connector" in caplog.text and secret not in caplog.text  # the connector's debug log
    assert not [event for event in result.all_events if secret in repr(event)]
