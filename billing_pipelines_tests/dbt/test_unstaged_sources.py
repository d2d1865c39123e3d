"""A source whose raw tables no staging model reads would load records that never reach
billing, with nothing to say so: loading the definitions refuses it, naming the tables."""

import json

import pytest

from billing_pipelines.config import ConfigError, parse_config
from billing_pipelines.defs.dbt.assets import raw_tables_nothing_reads, require_staging_for_every_load
from billing_pipelines.defs.dbt.project import ensure_manifest

SQL_SOURCE = """
  {name}:
    kind: sql
    url: sqlite:///app.sqlite
    datasets:
      usage_events:
        query: SELECT * FROM usage WHERE t >= :window_start AND t < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


@pytest.fixture(scope="module")
def manifest():
    return json.loads(ensure_manifest().read_text())


def config(sources: str):
    return parse_config(f'history_start: "2026-08-01"\nsources:{sources}')


def test_sources_named_as_their_staging_models_load_nothing_unread(manifest):
    sources = SQL_SOURCE.format(name="app_db") + "  stripe: {kind: stripe}\n  hubspot: {kind: hubspot}\n"
    unread, staged = raw_tables_nothing_reads(config(sources), manifest)
    assert unread == []
    assert {"app_db", "landing", "stripe", "hubspot", "google_sheets", "usage_lake"} <= set(staged)
    require_staging_for_every_load(config(sources), manifest)  # no error


def test_usage_no_staging_model_reads_is_refused_naming_its_tables(manifest):
    sources = SQL_SOURCE.format(name="app") + "  payments: {kind: stripe}\n"
    assert raw_tables_nothing_reads(config(sources), manifest)[0] == ["raw_app.usage_events", "raw_payments.*"]
    with pytest.raises(ConfigError, match=r"the sources load raw_app\.usage_events, raw_payments\.\*, which no dbt"):
        require_staging_for_every_load(config(sources), manifest)


def test_other_unread_tables_are_a_warning(manifest, caplog):
    require_staging_for_every_load(config("\n  payments: {kind: stripe}\n"), manifest)
    assert "the sources load raw_payments.*, which no dbt staging model reads" in caplog.text


def test_a_dataset_the_source_has_no_staging_model_for_is_refused(manifest):
    # usage_lake stages usage only: its customers would never reach billing.customers
    sources = (
        "\n  usage_lake:\n    kind: sql\n    url: sqlite:///lake.sqlite\n    datasets:\n"
        "      customers: {table: accounts, cursor: updated_at, primary_key: id}\n"
    )
    assert raw_tables_nothing_reads(config(sources), manifest)[0] == ["raw_usage_lake.customers"]
