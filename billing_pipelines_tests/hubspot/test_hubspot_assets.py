"""The HubSpot source as Dagster assets: its group and lineage, the state job, a materialization
from the stand-in into raw_<source>, a run selecting one raw table, and a missing token named
without a secret anywhere."""

from datetime import date

import dagster as dg
import pytest

from billing_pipelines.defs.hubspot.assets import hubspot_definitions
from billing_pipelines.defs.hubspot.extract import TABLES
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines_tests import api_sources

TOKEN_ENV = "TEST_BILLING_HUBSPOT_TOKEN"
TOKEN = "pat-na1-assets-0123456789abcdef"


@pytest.fixture
def hubspot_config(project_config, monkeypatch):
    standin = HubSpotStandin(token=TOKEN)
    standin.seed_from_sandbox(*app_company(date(2026, 9, 30), seed=4, accounts=40), external_id_property="crm_id")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with standin.serving() as base_url:
        config = project_config(
            "landing: {enabled: false}\n"
            "sources:\n"
            "  hubspot:\n"
            "    kind: hubspot\n"
            f"    base_url: {base_url}\n"
            f"    token_env: {TOKEN_ENV}\n"
            "    external_id_property: crm_id\n"
            "    max_attempts: 2\n"
        )
        yield config, standin


def materialize(config, selection=None) -> dg.ExecuteInProcessResult:
    return api_sources.materialize(hubspot_definitions(config), config, selection)


query = api_sources.query


def test_each_table_is_a_raw_asset_fed_by_the_portal_and_synced_with_the_state(hubspot_config):
    graph = api_sources.assert_raw_assets_synced_with_the_state("hubspot", "hubspot", TABLES)
    assert "the billed one marked primary" in graph.get(dg.AssetKey(["raw_hubspot", "deal_companies"])).description
    downstream = graph.get(dg.AssetKey(["raw_hubspot", "deals"])).child_keys
    assert any(key.path[-1] == "base_hubspot__contracts" for key in downstream)


def test_a_materialization_loads_the_portal_into_raw(hubspot_config):
    config, standin = hubspot_config
    assert materialize(config).success
    for table in ("companies", "deals", "line_items", "products"):
        assert query(config, f"select count(*) from raw_hubspot.{table}") == [(len(standin._records[table]),)]
    keyed = [r for r in standin._records["companies"].values() if r.properties.get("crm_id")]
    assert query(config, "select count(billing_external_id) from raw_hubspot.companies") == [(len(keyed),)]
    assert query(config, "select count(*) from raw_hubspot.deal_companies")[0][0] > 0


def test_a_run_selecting_only_the_deals_companies_leaves_the_deals_cursor(hubspot_config):
    config, standin = hubspot_config
    assert materialize(config, [dg.AssetKey(["raw_hubspot", "deal_companies"])]).success
    assert query(config, "select count(*) from raw_hubspot.deal_companies")[0][0] > 0
    tables = {row[0] for row in query(config, "select table_name from information_schema.tables")}
    assert "deals" not in tables  # read for their pairs, not loaded
    standin.reset_log()
    assert materialize(
        config, [dg.AssetKey(["raw_hubspot", "deals"]), dg.AssetKey(["raw_hubspot", "deal_companies"])]
    ).success
    # the deals' cursor had not moved: the deals are listed, not searched, by the run that loads them
    assert standin.requests_to("/crm/v3/objects/deals/search") == 0
    assert query(config, "select count(*) from raw_hubspot.deals") == [(len(standin._records["deals"]),)]


def test_a_missing_token_fails_the_run_naming_the_variable(hubspot_config, monkeypatch):
    config, standin = hubspot_config
    monkeypatch.delenv(TOKEN_ENV)
    result = materialize(config)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"hubspot: environment variable {TOKEN_ENV} is not set: it must hold the HubSpot private-app token" in error
    assert standin.requests_to("/") == 0


def test_the_token_never_shows_in_errors_or_logs(hubspot_config, caplog):
    config, standin = hubspot_config
    standin.inject_faults(401, 1)
    result = materialize(config)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "hubspot: GET /crm/v3/objects/" in error and "failed with HTTP 401" in error
    assert TOKEN not in error and TOKEN not in caplog.text
