"""SQL injection against the bulk path: data, partition keys and query templates never become SQL.

The bulk drivers cannot bind parameters while streaming, so the window bounds are written into
the statement. Only typed datetimes from the run's partition window get there: a hostile value
in the data is loaded as the text it is, a partition key that is not a date never reaches a
reader, and a `:window_start` inside a string literal of the configured query stays text."""

import json
import re
from datetime import date

import duckdb
import pytest
import sqlalchemy as sa

from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START, partition_range_tags

HOSTILE_METRIC = "x'); DROP TABLE meter_events; --"
HOSTILE_CUSTOMER = "CUS-1' OR '1'='1"
HOSTILE_NOTE = ":window_start $$ \\'; DELETE FROM meter_events; --"
FIRST_DAY = partition_range_tags(date(2026, 9, 1), date(2026, 9, 1))


def usage_source(dataset: str) -> str:
    return (
        "sources:\n  app:\n    kind: sql\n    url_env: APP_DATABASE_URL\n    datasets:\n      usage_events:\n"
        f"{dataset}        cursor: event_timestamp\n        primary_key: event_id\n"
    )


def query_form(query: str) -> str:
    return usage_source("        query: |\n" + "".join(f"          {line}\n" for line in query.splitlines()))


@pytest.fixture(params=["postgres", "mysql"])
def app_db(request, postgres_url, mysql_url, monkeypatch):
    """A meter_events table: a hostile event on 2026-09-01, a harmless one on the 2nd."""
    url = postgres_url if request.param == "postgres" else mysql_url
    timestamp, json_type = ("timestamptz", "jsonb") if request.param == "postgres" else ("DATETIME(6)", "JSON")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS meter_events"))
        connection.execute(
            sa.text(
                "CREATE TABLE meter_events (event_id BIGINT PRIMARY KEY, customer_external_id VARCHAR(80),"
                f" metric VARCHAR(80), quantity DECIMAL(20, 9), event_timestamp {timestamp}, properties {json_type})"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO meter_events VALUES (1, :customer, :metric, 1, '2026-09-01 12:00:00', :properties),"
                " (2, 'CUS-2', 'api_calls', 2, '2026-09-02 12:00:00', NULL)"
            ),
            {"customer": HOSTILE_CUSTOMER, "metric": HOSTILE_METRIC, "properties": json.dumps({"note": HOSTILE_NOTE})},
        )
    monkeypatch.setenv("APP_DATABASE_URL", url)
    yield engine
    engine.dispose()


def source_rows(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM meter_events")).scalar_one()


def raw_rows(config, columns: str) -> list[tuple]:
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        return warehouse.execute(f"SELECT {columns} FROM raw_app.usage_events ORDER BY event_id").fetchall()


def test_hostile_text_in_the_data_is_loaded_as_text_and_harms_nothing(app_db, project_config, load_raw):
    config = project_config(usage_source("        table: meter_events\n"))
    for _ in range(2):  # the second run reads a window whose rows hold the hostile values
        assert load_raw(config, tags=partition_range_tags(date(2026, 9, 1), date(2026, 9, 2))).success
    rows = raw_rows(config, "event_id, customer_external_id, metric, properties")
    assert [row[:3] for row in rows] == [(1, HOSTILE_CUSTOMER, HOSTILE_METRIC), (2, "CUS-2", "api_calls")]
    assert json.loads(rows[0][3]) == {"note": HOSTILE_NOTE}
    assert source_rows(app_db) == 2


@pytest.mark.parametrize("key", ["2026-09-01'; DROP TABLE meter_events; --", "2026-09-01 00:00:00", "yesterday"])
def test_a_partition_key_that_is_not_a_date_is_refused(key, app_db, project_config, load_raw):
    config = project_config(usage_source("        table: meter_events\n"))
    tags = {PARTITION_RANGE_START: key, PARTITION_RANGE_END: "2026-09-02"}
    with pytest.raises(ValueError, match=f"time data {re.escape(repr(key))} does not match format '%Y-%m-%d"):
        load_raw(config, tags=tags)  # Dagster parses the key as the daily partitions' date: no run starts
    assert source_rows(app_db) == 2
    assert not config.warehouse_path.exists()


def test_a_window_parameter_inside_a_literal_or_comment_stays_text(app_db, project_config, load_raw):
    config = project_config(
        query_form(
            "SELECT event_id, customer_external_id, metric, quantity, ':window_start' AS note,\n"
            "       event_timestamp -- not :window_end\n"
            "FROM meter_events WHERE event_timestamp >= :window_start AND event_timestamp < :window_end"
        )
    )
    assert load_raw(config, tags=FIRST_DAY).success
    assert raw_rows(config, "event_id, note") == [(1, ":window_start")]


def test_a_query_whose_bound_is_only_inside_a_literal_fails_and_reads_nothing(app_db, project_config, load_raw):
    config = project_config(
        query_form(
            "SELECT event_id, event_timestamp FROM meter_events\n"
            "WHERE event_timestamp >= :window_start AND ':window_end' <> ''"
        )
    )
    result = load_raw(config, tags=FIRST_DAY, raise_on_error=False)
    assert not result.success
    failure = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "no :window_end parameter outside string literals and comments" in failure
