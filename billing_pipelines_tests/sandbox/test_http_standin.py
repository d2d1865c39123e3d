"""The shared HTTP stand-in base: real HTTP on loopback, request counts, injected faults."""

import pytest
import requests

from billing_pipelines.sandbox.http_standin import RESET, ApiError, HttpStandin, Request, Response


class Echo(HttpStandin):
    def handle(self, request: Request) -> Response:
        if request.path == "/missing":
            raise ApiError(404, {"error": "no such thing"})
        return Response(200, {"path": request.path, "limit": request.param("limit"), "token": request.bearer_token})


def test_answers_over_http_and_counts_requests():
    standin = Echo()
    with standin.serving() as base_url, requests.Session() as session:
        answer = session.get(f"{base_url}/v1/things?limit=5", headers={"Authorization": "Bearer sk_1"})
        assert answer.json() == {"path": "/v1/things", "limit": "5", "token": "sk_1"}
        missing = session.get(f"{base_url}/missing")
        assert (missing.status_code, missing.json()) == (404, {"error": "no such thing"})
    assert standin.requests_to("/v1/") == 1
    assert standin.requests_to("/") == 2


def test_injected_faults_come_first_then_the_real_answer():
    standin = Echo()
    standin.inject_faults(429, 2, retry_after=1.5, path_prefix="/v1/")
    with standin.serving() as base_url:
        statuses = [requests.get(f"{base_url}/v1/x") for _ in range(3)]
        other = requests.get(f"{base_url}/v2/x")
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "1.5"
    assert other.status_code == 200


def test_a_reset_drops_the_connection():
    standin = Echo()
    standin.inject_faults(RESET, 1)
    with standin.serving() as base_url:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base_url}/v1/x")
        assert requests.get(f"{base_url}/v1/x").status_code == 200
    assert [r.status for r in standin.log] == [RESET, 200]
