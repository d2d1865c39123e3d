"""The warehouse resource: one place that picks dlt's destination, dbt's target and the read
helper for `warehouse.kind`, and never lets a secret out of the variable that holds it."""

import base64
import json
import os
import threading
import time
import uuid

import dagster as dg
import dlt
import pyarrow as pa
import pytest

from billing_pipelines.config import parse_config
from billing_pipelines.lib.memory import engine_limits
from billing_pipelines.lib.runtime import keep_row_ids
from billing_pipelines.lib.warehouse import (
    DUCKDB_RELATIONS,
    Warehouse,
    WarehouseError,
    dbt_environment,
    dlt_destination,
    hold_warehouse,
    relations_sql,
    row_id_columns_sql,
    warehouse_for,
)
from billing_pipelines.lib.windowed_reads import raw_write_disposition

SECRET = "s3cret-Pa55"


@pytest.fixture(autouse=True)
def no_warehouse_override(monkeypatch):
    monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)


def config_with(tmp_path, warehouse: str):
    return parse_config(f'history_start: "2026-08-01"\nwarehouse: {warehouse}\n', base_dir=tmp_path)


POSTGRES = "{kind: postgres, url_env: TEST_WAREHOUSE_URL}"
SNOWFLAKE = (
    "{kind: snowflake, account: acme-eu1, user: loader, password_env: TEST_SF_PASSWORD, database: ANALYTICS,"
    " warehouse: LOADING, role: LOADER}"
)
BIGQUERY = "{kind: bigquery, project: acme-billing, location: EU, credentials_env: TEST_BQ_KEY}"


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("TEST_WAREHOUSE_URL", f"postgresql://loader:{SECRET}@db.internal:6543/billing?sslmode=require")
    monkeypatch.setenv("TEST_SF_PASSWORD", SECRET)
    monkeypatch.setenv("TEST_BQ_KEY", json.dumps({"type": "service_account", "private_key": SECRET}))


# --- DuckDB: as it always was ------------------------------------------------------------------


def test_duckdb_warehouse_is_the_file_with_the_runs_memory_limit(tmp_path):
    warehouse = warehouse_for(config_with(tmp_path, "{path: data/w.duckdb}"))
    assert warehouse.kind == "duckdb" and warehouse.server == {}
    assert warehouse.path == str(tmp_path / "data" / "w.duckdb")
    assert warehouse.identity == str((tmp_path / "data" / "w.duckdb").resolve())
    assert not warehouse.exists and not warehouse.drops_dependent_views
    assert warehouse.relations_sql() == DUCKDB_RELATIONS


def test_duckdb_query_reads_the_file(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"))
    with warehouse.connect(read_only=False) as connection:
        connection.execute("CREATE SCHEMA billing; CREATE TABLE billing.t AS SELECT 1 AS n")
    assert warehouse.query("SELECT n FROM billing.t") == [(1,)]
    assert ("billing", "t") in set(warehouse.query(warehouse.relations_sql()))


def test_duckdb_exports_its_file_and_memory_limit_for_dbt(tmp_path, monkeypatch):
    for name in ("BILLING_DBT_TARGET", "BILLING_WAREHOUSE", "BILLING_DUCKDB_MEMORY_LIMIT"):
        monkeypatch.setenv(name, "before")  # restored after the test, whatever the export sets
    Warehouse(path=str(tmp_path / "w.duckdb"), memory_budget_mib=1536).export_for_dbt()
    assert os.environ["BILLING_DBT_TARGET"] == "duckdb"
    assert os.environ["BILLING_WAREHOUSE"] == str((tmp_path / "w.duckdb").resolve())
    assert os.environ["BILLING_DUCKDB_MEMORY_LIMIT"] == engine_limits(1536).duckdb_memory_limit


# --- server warehouses -------------------------------------------------------------------------


def test_a_server_warehouse_resource_holds_variable_names_not_secrets(tmp_path, secrets):
    for section in (POSTGRES, SNOWFLAKE, BIGQUERY):
        warehouse = warehouse_for(config_with(tmp_path, section))
        assert SECRET not in repr(warehouse) and SECRET not in json.dumps(warehouse.server)
        assert SECRET not in warehouse.identity
        assert warehouse.path == str(tmp_path / "data" / "warehouse.duckdb")  # local run state only


def test_postgres_target_comes_from_the_url_and_the_password_only_from_a_secret_variable(tmp_path, secrets):
    environment = dbt_environment(config_with(tmp_path, POSTGRES).warehouse)
    assert environment == {
        "BILLING_DBT_TARGET": "postgres",
        "BILLING_PG_HOST": "db.internal",
        "BILLING_PG_PORT": "6543",
        "BILLING_PG_USER": "loader",
        "DBT_ENV_SECRET_BILLING_PG_PASSWORD": SECRET,
        "BILLING_PG_DBNAME": "billing",
        "BILLING_PG_SSLMODE": "require",
        "PGTZ": "UTC",
    }
    warehouse = warehouse_for(config_with(tmp_path, POSTGRES))
    assert warehouse.identity == "postgres://db.internal:6543/billing"
    assert warehouse.drops_dependent_views


def test_postgres_url_errors_name_the_variable_never_its_value(tmp_path, monkeypatch):
    config = config_with(tmp_path, POSTGRES).warehouse
    monkeypatch.delenv("TEST_WAREHOUSE_URL", raising=False)
    with pytest.raises(WarehouseError, match="TEST_WAREHOUSE_URL is not set"):
        dbt_environment(config)
    for wrong in (f"not a url {SECRET}", f"mysql://loader:{SECRET}@db/billing", f"postgresql://loader:{SECRET}@db"):
        monkeypatch.setenv("TEST_WAREHOUSE_URL", wrong)
        with pytest.raises(WarehouseError, match="TEST_WAREHOUSE_URL does not hold") as error:
            dbt_environment(config)
        assert SECRET not in str(error.value) and error.value.__cause__ is None


def test_a_run_fails_at_its_start_when_the_secret_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SF_PASSWORD", raising=False)
    warehouse = warehouse_for(config_with(tmp_path, SNOWFLAKE))
    with pytest.raises(WarehouseError, match="TEST_SF_PASSWORD is not set"):
        warehouse.setup_for_execution(dg.build_init_resource_context())


def test_snowflake_target_with_a_password_or_a_private_key(tmp_path, secrets, monkeypatch):
    environment = dbt_environment(config_with(tmp_path, SNOWFLAKE).warehouse)
    assert environment == {
        "BILLING_DBT_TARGET": "snowflake",
        "BILLING_SF_ACCOUNT": "acme-eu1",
        "BILLING_SF_USER": "loader",
        "BILLING_SF_DATABASE": "ANALYTICS",
        "BILLING_SF_WAREHOUSE": "LOADING",
        "BILLING_SF_ROLE": "LOADER",
        "DBT_ENV_SECRET_BILLING_SF_PASSWORD": SECRET,
    }
    monkeypatch.setenv("TEST_SF_KEY", "-----BEGIN PRIVATE KEY-----")
    standin = SNOWFLAKE.replace("password_env: TEST_SF_PASSWORD", "private_key_env: TEST_SF_KEY")
    standin = standin.replace("}", ", host: 127.0.0.1, port: 8765, protocol: http}")
    environment = dbt_environment(config_with(tmp_path, standin).warehouse)
    assert environment["DBT_ENV_SECRET_BILLING_SF_PRIVATE_KEY"] == "-----BEGIN PRIVATE KEY-----"
    assert "DBT_ENV_SECRET_BILLING_SF_PASSWORD" not in environment
    assert (environment["BILLING_SF_HOST"], environment["BILLING_SF_PORT"], environment["BILLING_SF_PROTOCOL"]) == (
        "127.0.0.1",
        "8765",
        "http",
    )


def test_bigquery_target_with_a_key_default_credentials_or_an_emulator(tmp_path, secrets):
    environment = dbt_environment(config_with(tmp_path, BIGQUERY).warehouse)
    assert environment["BILLING_BQ_METHOD"] == "service-account-json"
    assert json.loads(base64.b64decode(environment["DBT_ENV_SECRET_BILLING_BQ_KEYFILE_JSON"]))["private_key"] == SECRET
    assert (environment["BILLING_BQ_PROJECT"], environment["BILLING_BQ_LOCATION"]) == ("acme-billing", "EU")
    default = dbt_environment(config_with(tmp_path, "{kind: bigquery, project: acme-billing}").warehouse)
    assert default == {
        "BILLING_DBT_TARGET": "bigquery",
        "BILLING_BQ_PROJECT": "acme-billing",
        "BILLING_BQ_METHOD": "oauth",
    }
    emulator = "{kind: bigquery, project: p, api_endpoint: 'http://127.0.0.1:9050'}"
    environment = dbt_environment(config_with(tmp_path, emulator).warehouse)
    assert environment["BILLING_BQ_METHOD"] == "oauth-secrets"
    assert environment["BILLING_BQ_API_ENDPOINT"] == "http://127.0.0.1:9050"


def test_existing_relations_come_from_each_warehouses_information_schema(tmp_path):
    assert "information_schema.tables" in relations_sql(config_with(tmp_path, POSTGRES).warehouse)
    assert '"ANALYTICS".information_schema.tables' in relations_sql(config_with(tmp_path, SNOWFLAKE).warehouse)
    assert "`acme-billing`.`region-eu`.INFORMATION_SCHEMA.TABLES" in relations_sql(
        config_with(tmp_path, BIGQUERY).warehouse
    )


def test_dlt_destinations_follow_the_kind(tmp_path, secrets, monkeypatch):
    postgres = dlt_destination(config_with(tmp_path, POSTGRES).warehouse)
    credentials = postgres.configuration(None, accept_partial=True).credentials
    assert postgres.destination_name == "postgres"
    assert (credentials.host, credentials.port, credentials.database, credentials.password) == (
        "db.internal",
        6543,
        "billing",
        SECRET,
    )
    assert SECRET not in str(credentials)
    snowflake = dlt_destination(config_with(tmp_path, SNOWFLAKE).warehouse)
    assert snowflake.destination_name == "snowflake"
    bigquery = dlt_destination(config_with(tmp_path, BIGQUERY).warehouse)
    assert bigquery.destination_name == "bigquery"
    assert bigquery.configuration(None, accept_partial=True).credentials.private_key == SECRET
    emulator = dlt_destination(
        config_with(tmp_path, "{kind: bigquery, project: p, api_endpoint: 'http://h:1'}").warehouse
    )
    assert emulator.configuration(None, accept_partial=True).credentials.token == "emulator"  # it checks none
    monkeypatch.delenv("TEST_WAREHOUSE_URL")  # loading definitions without the secret still works
    assert dlt_destination(config_with(tmp_path, POSTGRES).warehouse).destination_name == "postgres"


def test_connect_is_for_the_duckdb_file_only(tmp_path, secrets):
    warehouse = warehouse_for(config_with(tmp_path, POSTGRES))
    with pytest.raises(WarehouseError, match="use query"):
        with warehouse.connect():
            pass


# --- raw tables made when dlt still wrote a per-row `_dlt_id` ----------------------------------


def _load_usage(warehouse: Warehouse, dataset: str, quantities: list[int]) -> None:
    """A raw load as `raw_assets` runs it: row ids only where the dataset's tables have them."""
    pipeline_name = f"load_{dataset}"
    keep_row_ids(pipeline_name, warehouse.has_row_ids(dataset))
    rows = pa.table({"event_id": pa.array(range(len(quantities)), pa.int64()), "quantity": quantities})
    resource = dlt.resource(
        rows, name="usage_events", primary_key="event_id", write_disposition=raw_write_disposition(usage=True)
    )
    warehouse.dlt_pipeline(pipeline_name, dataset).run(resource)


def _columns(warehouse: Warehouse, dataset: str) -> list[str]:
    return [
        name
        for (name,) in warehouse.query(
            f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{dataset}'"
            " AND table_name = 'usage_events' ORDER BY 1"
        )
    ]


@pytest.fixture(params=["duckdb", "postgres"])
def any_local_warehouse(request, tmp_path, monkeypatch):
    if request.param == "duckdb":
        return Warehouse(path=str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("TEST_WAREHOUSE_URL", request.getfixturevalue("postgres_url"))
    return warehouse_for(config_with(tmp_path, POSTGRES))


def test_new_raw_tables_have_no_row_ids(any_local_warehouse):
    warehouse, dataset = any_local_warehouse, f"raw_new_{uuid.uuid4().hex[:8]}"
    _load_usage(warehouse, dataset, [1, 2])
    _load_usage(warehouse, dataset, [1, 2, 3])
    assert _columns(warehouse, dataset) == ["_dlt_load_id", "event_id", "quantity"]
    assert not warehouse.has_row_ids(dataset)
    assert warehouse.query(f"SELECT event_id, quantity FROM {dataset}.usage_events ORDER BY 1") == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]


def test_raw_tables_made_with_row_ids_keep_getting_them(any_local_warehouse, monkeypatch):
    warehouse, dataset = any_local_warehouse, f"raw_legacy_{uuid.uuid4().hex[:8]}"
    with monkeypatch.context() as before:  # how every load ran before
        before.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
        warehouse.dlt_pipeline("before", dataset).run(
            dlt.resource(pa.table({"event_id": [0], "quantity": [1]}), name="usage_events", primary_key="event_id")
        )
    assert warehouse.has_row_ids(dataset)

    _load_usage(warehouse, dataset, [10, 20, 30])

    rows = warehouse.query(f"SELECT event_id, quantity, _dlt_id IS NOT NULL FROM {dataset}.usage_events ORDER BY 1")
    assert rows == [(0, 10, True), (1, 20, True), (2, 30, True)]
    other = f"raw_other_{uuid.uuid4().hex[:8]}"
    _load_usage(warehouse, other, [1])  # another dataset in the same process is not affected
    assert "_dlt_id" not in _columns(warehouse, other)


def test_the_row_id_lookup_reads_each_warehouses_catalog_in_its_case(tmp_path, secrets):
    snowflake = row_id_columns_sql(config_with(tmp_path, SNOWFLAKE).warehouse, ["raw_app_db"])
    assert 'FROM "ANALYTICS".information_schema.columns' in snowflake and "IN ('RAW_APP_DB')" in snowflake
    bigquery = row_id_columns_sql(config_with(tmp_path, BIGQUERY).warehouse, ["raw_app_db"])
    assert "FROM `acme-billing`.`region-eu`.INFORMATION_SCHEMA.COLUMNS" in bigquery


def test_a_second_run_waits_for_the_duckdb_warehouse_until_the_first_ends(tmp_path):
    warehouse_file = tmp_path / "warehouse.duckdb"
    messages, acquired = [], threading.Event()

    class Log:
        def info(self, message):
            messages.append(message)

    first = hold_warehouse(warehouse_file, "run-1", Log())

    def second_run():
        handle = hold_warehouse(warehouse_file, "run-2", Log())
        acquired.set()
        handle.close()

    thread = threading.Thread(target=second_run)
    thread.start()
    while not messages and thread.is_alive():
        time.sleep(0.01)
    assert messages == [
        "waiting for the warehouse warehouse.duckdb: run run-1 is writing it (one run at a time on DuckDB)"
    ]
    assert not acquired.is_set()  # it waits for the first run's end
    first.close()
    thread.join(10)
    assert acquired.is_set() and (tmp_path / "warehouse.duckdb.runs.lock").read_text() == "run-2"
