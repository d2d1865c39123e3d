"""The API sources' HTTP client over real HTTP: retries, Retry-After, budgets, clear failures."""

import time

import pytest

from billing_pipelines.lib.http_client import (
    ApiClient,
    BearerTokenFromEnv,
    RequestBudget,
    RetryPolicy,
    SourceRequestError,
)
from billing_pipelines.sandbox.http_standin import RESET, ApiError, HttpStandin, Request, Response

TOKEN = "sk_secret_never_shown"
FAST = RetryPolicy(attempts=4, backoff_seconds=0.01, max_delay_seconds=2)


class Api(HttpStandin):
    def handle(self, request: Request) -> Response:
        if request.bearer_token != TOKEN:
            raise ApiError(401, {"error": "bad credentials"})
        if request.path == "/gone":
            raise ApiError(404, {"error": {"message": "No such customer: 'cus_1'"}})
        return Response(200, {"path": request.path, "query": request.param("q")})


@pytest.fixture
def api():
    standin = Api()
    with standin.serving() as base_url:
        yield standin, ApiClient("stripe", base_url, headers={"Authorization": f"Bearer {TOKEN}"}, retry=FAST)


def test_a_burst_of_429s_and_resets_is_survived(api):
    standin, client = api
    standin.inject_faults(429, 2)
    standin.inject_faults(RESET, 1)
    assert client.get("/v1/customers", {"q": "x"}) == {"path": "/v1/customers", "query": "x"}
    assert client.requests_made == standin.requests_to("/v1/customers") == 4


def test_retry_after_is_honoured(api):
    standin, client = api
    standin.inject_faults(429, 1, retry_after=1)
    started = time.monotonic()
    client.get("/v1/customers")
    assert time.monotonic() - started >= 1.0


def test_exhausted_retries_name_source_endpoint_and_status_never_the_secret(api):
    standin, client = api
    standin.inject_faults(503, 10)
    with pytest.raises(SourceRequestError) as failure:
        client.get("/v1/subscriptions")
    message = str(failure.value)
    assert message.startswith("stripe: GET /v1/subscriptions failed after 4 attempts with HTTP 503")
    assert TOKEN not in message
    assert standin.requests_to("/v1/subscriptions") == 4


def test_a_refusal_fails_at_once_with_the_apis_words(api):
    standin, client = api
    with pytest.raises(SourceRequestError, match=r"stripe: GET /gone failed with HTTP 404: .*No such customer"):
        client.get("/gone")
    assert standin.requests_to("/gone") == 1


def test_a_dead_endpoint_fails_after_its_attempts(api):
    standin, client = api
    standin.inject_faults(RESET, 10)
    with pytest.raises(SourceRequestError, match="stripe: GET /v1/prices failed after 4 attempts: ConnectionError"):
        client.get("/v1/prices")


def test_a_budget_spaces_requests_evenly():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    budget = RequestBudget(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        budget.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]


def test_the_bearer_secret_is_read_when_a_request_is_sent(api, monkeypatch):
    standin, _ = api
    client = ApiClient(
        "stripe", api[1].base_url, auth=BearerTokenFromEnv("stripe", "TEST_STRIPE_KEY", "Stripe API key")
    )
    monkeypatch.delenv("TEST_STRIPE_KEY", raising=False)
    with pytest.raises(SourceRequestError, match="stripe: environment variable TEST_STRIPE_KEY is not set: it must"):
        client.get("/v1/customers")
    assert standin.requests_to("/") == 0
    monkeypatch.setenv("TEST_STRIPE_KEY", TOKEN)
    assert client.get("/v1/customers")["path"] == "/v1/customers"
