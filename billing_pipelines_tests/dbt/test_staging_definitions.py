"""Staging is one definition per entity plus a mapping per source: a staging model is a call of
its entity's macro, the canonical models take every source's staging models from one list
(`staging_sources()`), and a mistake in a mapping or in that list fails loudly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from billing_pipelines.config import DATASETS

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
STAGING_DIR = DBT_PROJECT_DIR / "models" / "staging"
STAGING_MODEL = re.compile(r"stg_(?P<source>[a-z0-9_]+?)__(?P<entity>[a-z_]+)\.sql")


def dbt(project: Path, work: Path, *args: str, monkeypatch, warehouse: Path | None = None) -> dbtRunnerResult:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("BILLING_DBT_TARGET", "duckdb")
    if warehouse:
        monkeypatch.setenv("BILLING_WAREHOUSE", str(warehouse))
    else:
        monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)
    paths = ["--project-dir", str(project), "--profiles-dir", str(project)]
    paths += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    return dbtRunner().invoke([*args, *paths, "--quiet"])


@pytest.fixture
def project_copy(tmp_path) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("parse")
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = dbt(DBT_PROJECT_DIR, work, "parse", monkeypatch=monkeypatch)
    assert result.success, result.exception
    return json.loads((work / "target" / "manifest.json").read_text())


def test_every_staging_model_is_one_call_of_its_entitys_definition():
    models = sorted(STAGING_DIR.glob("stg_*.sql"))
    assert {STAGING_MODEL.fullmatch(model.name)["source"] for model in models} == {
        "app_db",
        "usage_lake",
        "product_analytics",
        "landing",
        "stripe",
        "hubspot",
        "google_sheets",
    }
    for model in models:
        source, entity = STAGING_MODEL.fullmatch(model.name).group("source", "entity")
        assert entity in DATASETS, model.name
        sql = re.sub(r"^--.*$", "", model.read_text(), flags=re.MULTILINE).strip()
        assert sql.startswith(f"{{{{ stage_{entity}(source='{source}', mapping={{") and sql.endswith("}) }}"), (
            model.name
        )
        assert sql.count("stage_") == 1 and "select" not in sql.lower(), model.name


def test_canonical_models_read_every_sources_staging_model_of_their_entity(manifest):
    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}

    def staging_of(entity: str) -> set[str]:
        return {
            f"model.billing_pipelines.{name}"
            for name in models
            if name.startswith("stg_") and name.endswith(f"__{entity}")
        }

    for canonical, entity in [
        ("customers", "customers"),
        ("contracts", "contracts"),
        ("contract_items", "contract_items"),
        ("usage_events", "usage_events"),
    ]:
        assert set(models[canonical]["depends_on"]["nodes"]) == staging_of(entity), canonical
    # the usage quarantine also reads what usage_events counts, to show conflicting duplicates
    quarantine_reads = set(models["usage_events_quarantine"]["depends_on"]["nodes"])
    assert quarantine_reads == staging_of("usage_events") | {"model.billing_pipelines.usage_events"}
    state_staging = staging_of("customers") | staging_of("contracts") | staging_of("contract_items")
    assert state_staging <= set(models["quarantine"]["depends_on"]["nodes"])
    assert len(staging_of("usage_events")) == 4


def test_the_sources_added_for_the_warehouses_deliver_usage_into_the_partitioned_models(manifest):
    for source in ("usage_lake", "product_analytics"):
        node = manifest["nodes"][f"model.billing_pipelines.stg_{source}__usage_events"]
        assert node["depends_on"]["nodes"] == [f"source.billing_pipelines.raw_{source}.usage_events"]
        assert "partitioned" in node["tags"]
        raw = manifest["sources"][f"source.billing_pipelines.raw_{source}.usage_events"]
        app_db = manifest["sources"]["source.billing_pipelines.raw_app_db.usage_events"]
        assert list(raw["columns"]) == list(app_db["columns"])  # the same raw contract


def test_a_mapping_that_names_no_canonical_column_fails_the_parse(project_copy, monkeypatch):
    model = project_copy / "models" / "staging" / "stg_usage_lake__usage_events.sql"
    model.write_text(model.read_text().replace("'customer_id': ", "'customer': "))
    result = dbt(project_copy, project_copy, "parse", monkeypatch=monkeypatch)
    assert not result.success
    assert "stg_usage_lake__usage_events: 'customer' is not a column of usage_events" in str(result.exception)


def test_a_mapping_without_a_required_column_fails_the_parse(project_copy, monkeypatch):
    model = project_copy / "models" / "staging" / "stg_product_analytics__usage_events.sql"
    model.write_text(model.read_text().replace("'metric': 'metric',", ""))
    result = dbt(project_copy, project_copy, "parse", monkeypatch=monkeypatch)
    assert not result.success
    assert "stg_product_analytics__usage_events: the mapping must say which raw column feeds metric" in str(
        result.exception
    )


def test_a_staging_model_missing_from_staging_sources_fails_the_run(project_copy, tmp_path, monkeypatch):
    """Its records would otherwise silently never reach billing."""
    (project_copy / "models" / "staging" / "stg_crm__customers.sql").write_text(
        "{{ stage_customers(source='crm', mapping={'delivery': keyed_rows('id'), 'columns': {'external_id': 'key'}}) }}\n"
    )
    sources = project_copy / "models" / "sources.yml"
    sources.write_text(
        sources.read_text()
        + "\n  - name: raw_crm\n    tables:\n      - name: customers\n        columns: [{name: id}, {name: key}]\n"
    )
    result = dbt(
        project_copy,
        project_copy,
        "compile",
        "--select",
        "customers",
        monkeypatch=monkeypatch,
        warehouse=tmp_path / "w.duckdb",
    )
    assert not result.success
    assert "stg_crm__customers is not listed in staging_sources()" in str(result.exception or result.result)
