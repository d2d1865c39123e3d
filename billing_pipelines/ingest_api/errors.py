"""Every refusal the API answers, as one JSON shape: `{"error": {"type": …, "message": …}}`.

A client always learns what was wrong and what was expected (a 4xx), never a bare 500 for
anything it sent.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

MEANINGS = {
    400: "the body is not what the endpoint reads (not JSON, not the provider's shape)",
    401: "missing, unknown or revoked API key (or signature)",
    403: "the API key lacks the endpoint's scope",
    404: "nothing here by that name",
    409: "the Idempotency-Key was used for another request, or its request is still running",
    413: "the body is larger than the configured limit",
    422: "the request is not what the endpoint accepts; the message says what was expected",
    429: "too many requests for this key; retry after the Retry-After seconds",
    503: "the endpoint is not configured in this deployment",
    507: "the landing zone could not store the records (its disk is full): nothing of the request was acknowledged; retry later",
}


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """Every refusal: what kind, and in words what was wrong and what was expected."""

    error: ErrorDetail


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the refusals an endpoint can answer."""
    return {code: {"model": ErrorBody, "description": MEANINGS[code]} for code in status_codes}


class ApiError(Exception):
    def __init__(self, status_code: int, error_type: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code, self.error_type, self.message = status_code, error_type, message
        self.headers = headers or {}


def error_response(status_code: int, error_type: str, message: str, headers: dict | None = None) -> Response:
    body = orjson.dumps({"error": {"type": error_type, "message": message}})
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error_response(error.status_code, error.error_type, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return error_response(422, "invalid_request", f"{where}: {first['msg']}" if where else first["msg"])

    @app.exception_handler(OSError)
    async def storage_error(request: Request, error: OSError) -> Response:
        # the landing zone's disk (full, read-only, gone): the request is not acknowledged
        return error_response(
            507, "insufficient_storage", f"{MEANINGS[507]} ({error.strerror or type(error).__name__})"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        error_type = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, error_type, str(error.detail), getattr(error, "headers", None))
