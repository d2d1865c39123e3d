"""A fresh warehouse: the dbt step's build also takes the missing models the selected ones read,
without their own tests, and leaves out the tests of models nothing builds; on PostgreSQL it
builds again the views its build dropped."""

import dagster as dg

from billing_pipelines.defs.dbt.assets import lost_models, missing_inputs, unrunnable_tests
from billing_pipelines.defs.dbt.assets import tests_beyond_selection as extra_tests  # not collected as a test


def model(schema: str, name: str) -> dict:
    return {"resource_type": "model", "schema": schema, "name": name, "alias": name}


def data_test(name: str) -> dict:
    return {"resource_type": "test", "schema": "billing", "name": name, "alias": name}


MANIFEST = {
    "nodes": {
        "model.p.stg_a": model("staging", "stg_a"),
        "model.p.stg_b": model("staging", "stg_b"),
        "model.p.usage": model("billing", "usage"),
        "model.p.daily": model("billing", "daily"),
        "test.p.unique_usage": data_test("unique_usage"),
        "test.p.not_null_stg_b": data_test("not_null_stg_b"),
        "test.p.usage_matches_stg_b": data_test("usage_matches_stg_b"),
    },
    "parent_map": {
        "model.p.stg_a": ["source.p.raw.a"],
        "model.p.stg_b": ["source.p.raw.b"],
        "model.p.usage": ["model.p.stg_a", "model.p.stg_b"],
        "model.p.daily": ["model.p.usage"],
        "test.p.unique_usage": ["model.p.usage"],
        "test.p.not_null_stg_b": ["model.p.stg_b"],
        "test.p.usage_matches_stg_b": ["model.p.usage", "model.p.stg_b"],
    },
}
USAGE, DAILY, STG_A = (dg.AssetKey(k) for k in (["billing", "usage"], ["billing", "daily"], ["staging", "stg_a"]))


def test_the_missing_inputs_the_run_does_not_build_are_built_first():
    assert missing_inputs(MANIFEST, set(), selected={USAGE, STG_A, DAILY}) == ["stg_b"]


def test_nothing_is_built_first_when_inputs_exist_or_the_run_builds_them():
    assert missing_inputs(MANIFEST, {("staging", "stg_b")}, {USAGE, STG_A}) == []
    assert missing_inputs(MANIFEST, set(), {USAGE, STG_A, dg.AssetKey(["staging", "stg_b"])}) == []


def test_inputs_are_followed_through_other_models():
    assert missing_inputs(MANIFEST, set(), selected={DAILY}) == ["stg_a", "stg_b", "usage"]


def test_a_missing_input_is_built_with_what_it_reads_even_when_the_run_selects_that():
    """`daily` reads `usage`, which the run does not build; `usage` reads `stg_a`, which the run
    does build but only after: the first build must take `stg_a` too, or `usage` cannot build."""
    assert missing_inputs(MANIFEST, set(), selected={STG_A, DAILY}) == ["stg_a", "stg_b", "usage"]
    assert missing_inputs(MANIFEST, {("staging", "stg_a")}, selected={STG_A, DAILY}) == ["stg_b", "usage"]


def test_models_the_build_made_the_warehouse_lose_are_built_again():
    before = {("staging", "stg_a"), ("staging", "stg_b"), ("billing", "usage"), ("billing", "daily")}
    after = before - {("billing", "daily")}  # a view dropped with the table it reads
    assert lost_models(MANIFEST, before, after) == ["daily"]
    assert lost_models(MANIFEST, before, before) == []
    assert lost_models(MANIFEST, set(), after) == []  # models created by the build are not lost


def test_the_build_leaves_out_the_tests_of_the_missing_inputs_but_keeps_those_of_the_selection():
    assert extra_tests(MANIFEST, ["stg_b"], selected={USAGE, STG_A}) == ["not_null_stg_b"]
    assert extra_tests(MANIFEST, ["stg_b"], selected={STG_A}) == ["not_null_stg_b", "usage_matches_stg_b"]
    assert extra_tests(MANIFEST, [], selected={USAGE}) == []


CONTRACTS_MANIFEST = {
    "nodes": {
        "model.p.customers": model("billing", "customers"),
        "model.p.contracts": model("billing", "contracts"),
        "test.p.unique_customers": data_test("unique_customers") | {"attached_node": "model.p.customers"},
        "test.p.contract_customer_known": data_test("contract_customer_known") | {"attached_node": "model.p.contracts"},
    },
    "parent_map": {
        "test.p.unique_customers": ["model.p.customers"],
        "test.p.contract_customer_known": ["model.p.contracts", "model.p.customers"],
    },
}
CUSTOMERS, CONTRACTS = dg.AssetKey(["billing", "customers"]), dg.AssetKey(["billing", "contracts"])


def test_a_test_reading_a_model_no_source_feeds_is_left_out():
    """No source delivers contracts: `contracts` is neither in the warehouse nor built, so the
    test that every contract's customer is known could only fail."""
    absent = unrunnable_tests(CONTRACTS_MANIFEST, set(), ["customers"], {CUSTOMERS})
    assert absent == ["contract_customer_known"]


def test_a_test_is_kept_when_its_models_exist_or_are_built():
    existing = {("billing", "contracts")}
    assert unrunnable_tests(CONTRACTS_MANIFEST, existing, ["customers"], {CUSTOMERS}) == []
    assert unrunnable_tests(CONTRACTS_MANIFEST, set(), ["customers", "contracts"], {CUSTOMERS}) == []


def test_a_check_of_a_selected_model_is_never_left_out():
    """Dagster waits for the result of every check of a selected model: one that cannot pass
    fails the run, it is not dropped."""
    assert unrunnable_tests(CONTRACTS_MANIFEST, set(), ["contracts"], {CONTRACTS}) == ["unique_customers"]
