"""schemathesis against the API's own OpenAPI document, over real HTTP: whatever it sends,
valid or not, the API never answers 5xx and every answer matches what the document promises."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from billing_pipelines_tests.ingest_api.conftest import RunningApi, write_api_config

EXAMPLES_PER_OPERATION = 40
SEMANTIC_BODIES = {"POST /v1/uploads/{dataset}"}
"""Operations whose body the document can only call "a string": a CSV file must start with its
dataset's header, which schemathesis cannot know, so a "schema-valid" random string is rightly
refused (422) there. Every other check still applies to them."""


@pytest.fixture(scope="module")
def conformance_api(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    api = RunningApi(root, write_api_config(root, "requests_per_second: 10000\nburst: 10000")).start()
    yield api, api.key("usage:write", "customers:write", "contracts:write", "uploads:write")
    api.stop()


def operations(api: RunningApi):
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_documented(conformance_api):
    api, _ = conformance_api
    labels = {operation.label for operation in operations(api)}
    assert {"POST /v1/usage-events", "POST /v1/customers", "POST /v1/contracts", "GET /healthz"} <= labels
    assert {"POST /v1/uploads/{dataset}", "GET /v1/uploads/{upload_id}"} <= labels


def fuzz(operation, base_url: str, headers: dict[str, str]) -> None:
    """Send `EXAMPLES_PER_OPERATION` generated requests to one operation and check each answer."""
    excluded = [schemathesis.checks.positive_data_acceptance] if operation.label in SEMANTIC_BODIES else []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case):
        case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded)

    call()


def test_no_server_error_and_no_schema_violation(conformance_api):
    api, key = conformance_api
    for operation in operations(api):
        fuzz(operation, api.url, {"Authorization": f"Bearer {key}"})
