"""Injection: nothing from the configuration, a partition key or the data becomes SQL.

Already covered elsewhere and not repeated here: hostile values in a PostgreSQL/MySQL source's
rows and non-date partition keys on the bulk raw readers (`sql_databases/test_bulk_injection.py`),
window parameters inside literals (`lib/test_sql_queries.py`), Snowflake and BigQuery table names
(`snowflake/test_extract.py`, `bigquery/test_extract.py`). This adds:

- data values with quotes, semicolons and comment markers pushed through the API and uploaded as
  a CSV file reach raw, staging (dbt) and the canonical tables exactly, and every table is intact;
- a partition key or range holding SQL never reaches the dbt step (its window vars);
- a source or dataset name holding quotes is refused when billing.yaml is read, and a table or
  cursor name holding them stays one quoted identifier on a real PostgreSQL server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from billing_pipelines.config import ConfigError, parse_config
from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from billing_pipelines.lib.sql_queries import window_sql
from billing_pipelines_tests.security.conftest import (
    FORMULA,
    FORMULA_METRIC,
    HOSTILE_CUSTOMER,
    PLUS_FORMULA,
    SQL_METRIC,
    SQL_PROPERTY,
    SQL_TEXT,
    canonical,
    dbt_model_keys,
)

CANONICAL_TABLES = ("customers", "contracts", "contract_items", "usage_events", "usage_events_quarantine")


def test_hostile_text_in_pushed_and_uploaded_data_reaches_raw_staging_and_canonical_exactly(world):
    customer = "select name, line1, city, state, phone from {} where {} = 'SEC-1'"
    expected = [(FORMULA, SQL_TEXT, PLUS_FORMULA, "@SUM(A1)", "-2+3")]
    assert canonical(world, customer.format("raw_landing.customers", "external_id")) == expected
    assert canonical(world, customer.format("staging.stg_landing__customers", "customer_id")) == expected
    assert canonical(world, customer.format("billing.customers", "customer_id")) == expected

    usage = "select event_id, metric, properties from {} where customer_id = 'SEC-1' order by event_id"
    staged = canonical(world, usage.format("staging.stg_landing__usage_events"))
    loaded = canonical(world, usage.format("billing.usage_events"))
    assert [row[:2] for row in loaded] == [("sec-formula", FORMULA_METRIC), ("sec-sql", SQL_METRIC)]
    assert json.loads(loaded[0][2]) == {"note": SQL_PROPERTY, "label": FORMULA}
    assert [row[:2] for row in staged] == [row[:2] for row in loaded]


def test_every_table_survives_the_hostile_values(world):
    counts = {table: canonical(world, f"select count(*) from billing.{table}")[0][0] for table in CANONICAL_TABLES}
    assert counts["customers"] == 3  # the app's, Stripe's and the uploaded one
    assert counts["usage_events"] == 3  # the app's event and the two pushed ones
    assert canonical(world, "select count(*) from raw_landing.usage_events")[0][0] >= 2


def test_a_record_the_api_refused_is_quarantined_with_its_payload_exactly_as_sent(world):
    [(reason, payload)] = canonical(
        world, "select reason, payload from billing.quarantine where payload like '%sec-rejected%'"
    )
    assert reason.startswith("quantity")
    assert json.loads(payload)["quantity"] == FORMULA and json.loads(payload)["customer_id"] == HOSTILE_CUSTOMER


@pytest.mark.parametrize(
    "tags",
    [
        {PARTITION_RANGE_START: "2026-09-01'; DROP TABLE billing.customers; --", PARTITION_RANGE_END: "2026-09-01"},
        {PARTITION_RANGE_START: "2026-09-01", PARTITION_RANGE_END: '2026-09-02"}); DROP TABLE billing.customers; --'},
        {"dagster/partition": "2026-09-01' OR '1'='1"},
    ],
    ids=["range start", "range end", "single partition"],
)
def test_a_partition_key_holding_sql_never_reaches_the_dbt_step(world, tags):
    runs_before = len(world.instance.get_runs())
    job = world.defs.resolve_implicit_global_asset_job_def()
    with pytest.raises(ValueError, match="does not match format '%Y-%m-%d"):  # Dagster parses it as a day
        job.execute_in_process(instance=world.instance, asset_selection=dbt_model_keys(world.defs), tags=tags)
    assert len(world.instance.get_runs()) == runs_before  # refused before a run (so dbt) started
    assert canonical(world, "select count(*) from billing.customers")[0][0] == 3


SOURCE = """\
history_start: "2026-08-01"
sources:
  {name}:
    kind: sql
    url: sqlite:///app.sqlite
    datasets:
      {dataset}:
        table: accounts
        cursor: updated_at
        primary_key: account_id
"""


@pytest.mark.parametrize(
    ("name", "dataset", "where"),
    [
        ("'app\"; DROP SCHEMA billing; --'", "customers", "sources"),
        ("app_db", "'customers\"; DROP TABLE billing.customers; --'", "datasets"),
        ("'raw_app\" CASCADE'", "customers", "sources"),
    ],
    ids=["source name", "dataset name", "schema-like name"],
)
def test_a_source_or_dataset_name_holding_quotes_is_refused_when_the_file_is_read(tmp_path, name, dataset, where):
    with pytest.raises(ConfigError) as refused:
        parse_config(SOURCE.format(name=name, dataset=dataset), "billing.yaml", base_dir=tmp_path)
    message = str(refused.value)
    assert message.startswith("billing.yaml:") and where in message


@pytest.mark.parametrize(
    ("table", "cursor"),
    [
        ('accounts"; DROP TABLE victims; --', "updated_at"),
        ("accounts", 'updated_at" > now() OR 1=1; DROP TABLE victims; --'),
    ],
    ids=["table", "cursor"],
)
def test_a_table_or_cursor_name_holding_sql_stays_one_quoted_name_on_postgres(postgres_url, table, cursor):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS victims (id int)"))
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 2, tzinfo=UTC)
    statement = window_sql(None, table, cursor, "postgresql", start, end)
    with pytest.raises(sa.exc.ProgrammingError, match="does not exist"), engine.connect() as connection:
        connection.exec_driver_sql(statement)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM victims")).scalar_one() == 0  # still there
    engine.dispose()
