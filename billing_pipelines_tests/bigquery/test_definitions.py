"""What a `kind: bigquery` source adds to the code location, and that describing it stays cheap."""

import subprocess
import sys

import dagster as dg

from billing_pipelines.defs.bigquery.assets import bigquery_source_definitions

SOURCE = """
sources:
  product_analytics:
    kind: bigquery
    project: sandbox-analytics
    credentials_env: PRODUCT_ANALYTICS_KEY
    datasets:
      usage_events:
        table: product.usage_events
        cursor: occurred_at
        primary_key: event_id
      customers:
        table: product.accounts
        cursor: updated_at
        primary_key: id
  switched_off:
    kind: bigquery
    enabled: false
    project: sandbox-analytics
    datasets:
      usage_events:
        table: product.usage_events
        cursor: occurred_at
        primary_key: event_id
"""


def test_each_enabled_source_gets_external_source_assets_and_raw_loads(project_config, monkeypatch):
    monkeypatch.delenv("PRODUCT_ANALYTICS_KEY", raising=False)  # describing needs no secret
    definitions = bigquery_source_definitions(project_config(SOURCE))
    specs = {spec.key: spec for spec in definitions.assets if isinstance(spec, dg.AssetSpec)}
    loads = {key: load for load in definitions.assets if isinstance(load, dg.AssetsDefinition) for key in load.keys}
    assert set(specs) == {dg.AssetKey(["product_analytics", d]) for d in ("usage_events", "customers")}
    assert all(spec.kinds == {"bigquery"} for spec in specs.values())
    assert set(loads) == {dg.AssetKey(["raw_product_analytics", d]) for d in ("usage_events", "customers")}
    usage = loads[dg.AssetKey(["raw_product_analytics", "usage_events"])]
    assert usage.partitions_def is not None
    assert loads[dg.AssetKey(["raw_product_analytics", "customers"])].partitions_def is None


def test_loading_the_bigquery_definitions_does_not_import_the_bigquery_client():
    probe = (
        "import sys, billing_pipelines.defs.bigquery.assets, billing_pipelines.defs.bigquery.resources;"
        "print(sorted(m for m in sys.modules if m.startswith(('dagster_gcp', 'google.cloud.bigquery'))))"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
