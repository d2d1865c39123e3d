"""A fresh warehouse: the dbt steps first build the models that do not exist yet."""

from billing_pipelines.defs.dbt.assets import missing_models

MANIFEST = {
    "nodes": {
        "model.p.customers": {"resource_type": "model", "name": "customers", "schema": "billing", "alias": "customers"},
        "model.p.stg": {"resource_type": "model", "name": "stg_a__b", "schema": "staging", "alias": "stg_a__b"},
        "test.p.unique": {"resource_type": "test", "name": "unique_x", "schema": "billing", "alias": "unique_x"},
    }
}


def test_only_models_without_a_relation_are_missing():
    assert missing_models(MANIFEST, set()) == ["customers", "stg_a__b"]
    assert missing_models(MANIFEST, {("billing", "customers")}) == ["stg_a__b"]
    assert missing_models(MANIFEST, {("billing", "customers"), ("staging", "stg_a__b")}) == []
