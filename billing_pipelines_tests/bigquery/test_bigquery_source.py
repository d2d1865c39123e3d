"""The BigQuery source against the emulator: a usage backfill lands exactly what BigQuery
holds for the window, and nothing from the configuration, a partition key or the data is ever
run as SQL."""

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest
from dagster_dlt import DagsterDltResource
from google.cloud import bigquery as bq

from billing_pipelines.config import BigQuerySourceConfig, ConfigError, SqlDatasetConfig
from billing_pipelines.defs.bigquery.assets import bigquery_source_definitions
from billing_pipelines.defs.bigquery.extract import BigQueryReader
from billing_pipelines.lib.warehouse import Warehouse
from billing_pipelines_tests.bigquery.conftest import BIG_QUANTITY, HOSTILE_METRIC

WINDOW = {"dagster/asset_partition_range_start": "2026-09-01", "dagster/asset_partition_range_end": "2026-09-03"}
WINDOW_START, WINDOW_END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 4, tzinfo=UTC)

USAGE_QUERY = """
        query: |
          SELECT event_id, account_external_id AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM product.usage_events
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


def source(endpoint: str, usage: str = USAGE_QUERY, extra: str = "") -> str:
    return f"""
sources:
  product_analytics:
    kind: bigquery
    project: sandbox-analytics
    location: US
    api_endpoint: {endpoint}
{extra}    datasets:
      usage_events:{usage}"""


def emulator_source(bigquery) -> BigQuerySourceConfig:
    """The source as a reader sees it; each test gives the dataset it reads."""
    usage = {"table": "product.usage_events", "cursor": "occurred_at", "primary_key": "event_id"}
    return BigQuerySourceConfig(
        kind="bigquery", project=bigquery.project, api_endpoint=bigquery.api_endpoint, datasets={"usage_events": usage}
    )


def materialize(config, selection="raw_product_analytics/usage_events", **run) -> dg.ExecuteInProcessResult:
    assets = [a for a in bigquery_source_definitions(config).assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize(
        assets,
        selection=selection,
        resources={"dlt": DagsterDltResource(), "warehouse": Warehouse(path=str(config.warehouse_path))},
        **run,
    )


def source_aggregate(client: bq.Client) -> dict:
    """BigQuery's own count and sum per customer × metric × UTC day of the window."""
    job = client.query(
        "SELECT account_external_id, metric, DATE(occurred_at) AS day, COUNT(*) AS events, SUM(quantity) AS total"
        " FROM product.usage_events WHERE occurred_at >= @start AND occurred_at < @end GROUP BY 1, 2, 3",
        job_config=bq.QueryJobConfig(
            query_parameters=[
                bq.ScalarQueryParameter("start", "TIMESTAMP", WINDOW_START),
                bq.ScalarQueryParameter("end", "TIMESTAMP", WINDOW_END),
            ]
        ),
    )
    return {(r.account_external_id, r.metric, r.day): (r.events, r.total) for r in job.result()}


def raw_types(warehouse: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return set(
        warehouse.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'raw_product_analytics' AND table_name = 'usage_events'"
        ).fetchall()
    )


def _json(text: str | None):
    return None if text is None else json.loads(text)


def raw_aggregate(warehouse: duckdb.DuckDBPyConnection) -> dict:
    rows = warehouse.execute(
        "SELECT customer_external_id, metric, _event_date, count(*), sum(quantity)"
        " FROM raw_product_analytics.usage_events GROUP BY ALL"
    ).fetchall()
    return {(customer, metric, day): (events, total) for customer, metric, day, events, total in rows}


def test_usage_backfill_lands_the_sources_window_exactly_and_reruns_change_nothing(
    bigquery, usage_table, project_config
):
    config = project_config(source(bigquery.api_endpoint))
    client = bigquery.client()
    expected = source_aggregate(client)
    assert len(expected) > 20 and any(metric == HOSTILE_METRIC for _, metric, _ in expected)

    for _ in range(2):  # the second run replaces the window with the very same rows
        assert materialize(config, tags=WINDOW).success
        with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
            assert raw_aggregate(warehouse) == expected
            events, distinct, undated, misdated = warehouse.execute(
                "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (_event_date IS NULL),"
                " count(*) FILTER (_event_date <> CAST(timezone('UTC', event_timestamp) AS DATE))"
                " FROM raw_product_analytics.usage_events"
            ).fetchone()
            assert events == distinct == sum(count for count, _ in expected.values())
            assert undated == misdated == 0
            big = warehouse.execute(
                "SELECT quantity FROM raw_product_analytics.usage_events WHERE quantity = ?", [BIG_QUANTITY]
            ).fetchall()
            assert big == [(BIG_QUANTITY,)]
            assert raw_types(warehouse) >= {
                ("quantity", "DECIMAL(38,9)"),
                ("event_timestamp", "TIMESTAMP WITH TIME ZONE"),
                ("properties", "VARCHAR"),
                ("_event_date", "DATE"),
            }
            properties = dict(
                warehouse.execute("SELECT event_id, properties FROM raw_product_analytics.usage_events").fetchall()
            )
    seeded = dict(zip(usage_table["event_id"].to_pylist(), usage_table["properties"].to_pylist()))
    assert all(_json(text) == _json(seeded[event_id]) for event_id, text in properties.items())
    # the hostile metric was data all along: BigQuery still holds every seeded row
    assert client.get_table("product.usage_events").num_rows == usage_table.num_rows


def test_a_partition_key_that_is_not_a_date_is_refused(bigquery, usage_table, project_config):
    config = project_config(source(bigquery.api_endpoint))
    hostile = "2026-09-01'; DROP TABLE product.usage_events; --"
    with pytest.raises(dg.DagsterUnknownPartitionError):
        materialize(config, partition_key=hostile)
    range_tags = {"dagster/asset_partition_range_start": hostile, "dagster/asset_partition_range_end": "2026-09-03"}
    with pytest.raises(ValueError, match="does not match format"):
        materialize(config, tags=range_tags)
    assert bigquery.client().get_table("product.usage_events").num_rows == usage_table.num_rows


def test_a_table_name_that_is_not_a_bigquery_name_fails_the_load(bigquery, project_config):
    hostile = """
        table: "product.usage_events`; DROP TABLE product.usage_events; --"
        cursor: occurred_at
        primary_key: event_id
"""
    with pytest.raises(
        ConfigError, match=r"sources\.product_analytics\.datasets\.usage_events: table .* may only hold"
    ):
        bigquery_source_definitions(project_config(source(bigquery.api_endpoint, hostile)))


def test_a_configured_table_is_read_by_its_quoted_name_in_batches_of_at_most_batch_rows(bigquery, usage_table):
    reader = BigQueryReader(emulator_source(bigquery))
    # `sandbox-analytics` has a dash: it must be quoted to parse at all
    dataset = SqlDatasetConfig(
        table="sandbox-analytics.product.usage_events", cursor="occurred_at", primary_key="event_id"
    )
    batches = list(reader.batches(dataset, reader.bound(WINDOW_START), reader.bound(WINDOW_END), batch_rows=400))
    in_window = [t for t in usage_table["occurred_at"].to_pylist() if WINDOW_START <= t < WINDOW_END]
    assert sum(batch.num_rows for batch in batches) == len(in_window) > 1000
    assert all(0 < batch.num_rows <= 400 for batch in batches)
    assert all(batch.num_rows == 400 for batch in batches[:-1])


def test_window_placeholders_inside_string_literals_are_left_alone(bigquery, usage_table):
    reader = BigQueryReader(emulator_source(bigquery))
    dataset = SqlDatasetConfig(
        query="SELECT event_id, ':window_start' AS quoted, \"a :window_end b\" AS double_quoted"
        " FROM product.usage_events -- not :window_start here\n"
        " WHERE occurred_at >= :window_start AND occurred_at < :window_end",
        cursor="occurred_at",
        primary_key="event_id",
    )
    (batch,) = reader.batches(
        dataset, reader.bound(WINDOW_START), reader.bound(datetime(2026, 9, 2, tzinfo=UTC)), 10**6
    )
    assert set(batch["quoted"].to_pylist()) == {":window_start"}
    assert set(batch["double_quoted"].to_pylist()) == {"a :window_end b"}


def test_an_empty_window_reads_no_rows_without_error(bigquery, usage_table):
    reader = BigQueryReader(emulator_source(bigquery))
    dataset = SqlDatasetConfig(table="product.usage_events", cursor="occurred_at", primary_key="event_id")
    empty = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
    assert list(reader.batches(dataset, *empty, batch_rows=100)) == []


ACCOUNTS = """
        table: product.accounts
        cursor: updated_at
        primary_key: id
"""


def test_state_load_reads_only_rows_changed_since_the_cursor(bigquery, project_config):
    client = bigquery.client()
    client.create_dataset("product", exists_ok=True)
    client.query(
        "CREATE OR REPLACE TABLE product.accounts (id INT64, name STRING, updated_at TIMESTAMP);"
        " INSERT INTO product.accounts VALUES (1, 'Acme', TIMESTAMP '2026-09-01 08:00:00+00'),"
        " (2, 'Globex', TIMESTAMP '2026-09-02 08:00:00+00'), (3, 'Initech', TIMESTAMP '2026-08-15 08:00:00+00')"
    ).result()
    config = project_config(source(bigquery.api_endpoint) + f"      customers:{ACCOUNTS}")
    assert materialize(config, "raw_product_analytics/customers").success
    client.query(
        "UPDATE product.accounts SET name = 'Acme Corp', updated_at = TIMESTAMP '2026-09-10 08:00:00+00' WHERE id = 1"
    ).result()
    assert materialize(config, "raw_product_analytics/customers").success
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
        rows = warehouse.execute("SELECT id, name FROM raw_product_analytics.customers ORDER BY id").fetchall()
        loads = warehouse.execute(
            "SELECT count(*) FROM raw_product_analytics.customers GROUP BY _dlt_load_id ORDER BY _dlt_load_id"
        ).fetchall()
    assert rows == [(1, "Acme Corp"), (2, "Globex"), (3, "Initech")]
    # the second load read from the cursor (2026-09-02 08:00, included) on: the changed row and the boundary one
    assert loads == [(1,), (2,)]
