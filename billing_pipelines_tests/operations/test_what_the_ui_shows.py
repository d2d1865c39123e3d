"""What an operator sees on the definitions, before anything ran: every asset says what it is,
who owns it, what it is made with and where it belongs; every table's storage address is the
real table in the warehouse in effect; jobs, schedules and sensors say what they do; raw loads,
and only they, retry a transient failure."""

import dagster as dg
import pytest

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.sensors import LANDING_STATE_JOB, LANDING_USAGE_JOB
from billing_pipelines.defs.sync.jobs import STATE_JOB, SYNC_JOB, USAGE_JOB
from billing_pipelines.lib.asset_metadata import table_address
from billing_pipelines.lib.raw_assets import OWNER
from billing_pipelines.lib.step_retries import RAW_LOAD_RETRY
from billing_pipelines.lib.warehouse import Warehouse

STRIPE = "  stripe: {kind: stripe, base_url: 'http://127.0.0.1:9', api_key_env: OPS_TEST_STRIPE_KEY}\n"


@pytest.fixture
def defs(app_project):
    app_project("landing: {path: landing}\n", more_sources=STRIPE)
    return build_definitions()


def test_every_asset_has_a_description_owner_kinds_and_group(defs):
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {dg.AssetKey(["raw_stripe", "customers"]), dg.AssetKey(["landing", "usage_events"])} <= keys
    for key in keys:
        node = graph.get(key)
        assert node.description and node.description.strip(), f"{key} has no description"
        assert node.owners == [OWNER], f"{key} owners {node.owners}"
        assert node.kinds, f"{key} has no kinds"
        assert node.group_name and node.group_name != "default", f"{key} is in no group"
    switched_off = graph.get(dg.AssetKey(["raw_hubspot", "deals"]))  # read by dbt, HubSpot not configured
    assert not switched_off.is_materializable and "loads nothing into" in switched_off.description
    assert switched_off.group_name == "hubspot"


def test_storage_addresses_are_the_real_tables_of_the_duckdb_file(defs):
    """The project's warehouse is `warehouse.duckdb`: DuckDB names its catalog `warehouse`."""
    graph = defs.resolve_asset_graph()
    table_names = {
        key: graph.get(key).metadata["dagster/table_name"]
        for key in graph.materializable_asset_keys
        if "dagster/table_name" in graph.get(key).metadata
    }
    assert table_names[dg.AssetKey(["raw_app_db", "usage_events"])] == "warehouse.raw_app_db.usage_events"
    assert table_names[dg.AssetKey(["raw_stripe", "customers"])] == "warehouse.raw_stripe.customers"
    assert table_names[dg.AssetKey(["billing", "usage_events"])] == "warehouse.billing.usage_events"
    assert (
        table_names[dg.AssetKey(["staging", "stg_app_db__usage_events"])]
        == "warehouse.staging.stg_app_db__usage_events"
    )
    assert set(table_names) == graph.materializable_asset_keys  # every table says where it is
    assert all(name == "warehouse." + ".".join(key.path) for key, name in table_names.items())


def test_dbt_models_show_the_columns_the_project_describes(defs):
    columns = defs.resolve_asset_graph().get(dg.AssetKey(["billing", "usage_events"])).metadata["dagster/column_schema"]
    described = {column.name: column.description for column in columns.columns}
    assert {"event_id", "customer_id", "quantity", "event_timestamp"} <= set(described)
    assert described["event_id"]


@pytest.mark.parametrize(
    ("server", "environment", "address"),
    [
        ({}, {}, "warehouse.billing.customers"),
        (
            {"kind": "postgres", "url_env": "OPS_PG"},
            {"OPS_PG": "postgresql://u:p@db:5432/ledger"},
            "ledger.billing.customers",
        ),
        ({"kind": "postgres", "url_env": "OPS_PG"}, {}, "billing.customers"),  # loading without the secret
        (
            {"kind": "snowflake", "account": "acme", "user": "u", "database": "Finance", "password_env": "OPS_SF"},
            {},
            "FINANCE.BILLING.CUSTOMERS",
        ),
        ({"kind": "bigquery", "project": "acme-data"}, {}, "acme-data.billing.customers"),
    ],
)
def test_the_address_follows_the_warehouse_in_effect(tmp_path, monkeypatch, server, environment, address):
    monkeypatch.delenv("OPS_PG", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    warehouse = Warehouse(path=str(tmp_path / "warehouse.duckdb"), server=server)
    assert table_address(warehouse, "billing", "customers") == address


def test_jobs_schedules_and_sensors_say_what_they_do(defs):
    jobs = [SYNC_JOB, USAGE_JOB, STATE_JOB, LANDING_USAGE_JOB, LANDING_STATE_JOB]
    assert all(defs.resolve_job_def(name).description for name in jobs)
    assert defs.resolve_schedule_def("contemporary_sync").description
    for sensor in ("landing_files", "billing_automation"):
        assert defs.resolve_sensor_def(sensor).description, f"sensor {sensor} has no description"


def test_only_the_raw_loads_retry_and_with_exponential_backoff(defs):
    graph = defs.resolve_asset_graph()
    steps = {graph.get(key).assets_def for key in graph.materializable_asset_keys}
    policies = {assets_def.node_def.name: assets_def.node_def.retry_policy for assets_def in steps}
    assert policies.pop("dbt_models") is None  # a model that fails fails for a reason; the run retries
    assert set(policies) == {"app_db_state", "app_db_usage", "landing_state", "landing_usage", "stripe_api"}
    assert all(policy == RAW_LOAD_RETRY for policy in policies.values())
    assert RAW_LOAD_RETRY.backoff == dg.Backoff.EXPONENTIAL and RAW_LOAD_RETRY.jitter is not None
