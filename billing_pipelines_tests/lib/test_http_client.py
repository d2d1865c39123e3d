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


class FakeClock:
    """A clock that moves only when slept on or told a request took some time."""

    def __init__(self):
        self.now, self.slept = 100.0, []

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_a_budget_lets_a_burst_up_to_the_limit_through_then_waits_for_the_window():
    clock = FakeClock()
    budget = RequestBudget(4, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(6):
        with budget.turn():
            clock.now += 0.1  # each answer takes 0.1 s
    # four at once (answered at 100.1 .. 100.4); the fifth waits until the first answer is a second
    # old (at 101.1), and is answered at 101.2, when the second answer already is: the sixth goes at once
    assert clock.slept == [0.7]
    assert budget.limit == 4 and budget.window == 1.0


def test_a_fractional_budget_keeps_its_average_rate():
    clock = FakeClock()
    budget = RequestBudget(2.5, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(5):
        with budget.turn():
            pass
    assert (budget.limit, budget.window) == (2, 0.8)
    assert clock.slept == [0.8, 0.8]  # five requests in 1.6 s: 2.5 a second on average


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
