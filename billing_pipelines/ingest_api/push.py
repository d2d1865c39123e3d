"""`POST /v1/usage-events`, `/v1/customers` and `/v1/contracts`: records pushed as they happen.

Each request is answered record by record: accepted (landed on disk before the answer),
`duplicate` (an `event_id` the API already took, or sent twice in the request) or rejected
with the reason. Rejected records land too, as `rejected_records`, so they show in
`billing.quarantine` with the request and index they came from: nothing a client sent is lost
without a trace.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from billing_pipelines.defs.landing.columns import REJECTED_RECORDS
from billing_pipelines.ingest_api.auth import BEARER_SECURITY, ContractsWriter, CustomersWriter, key_for
from billing_pipelines.ingest_api.errors import error_responses
from billing_pipelines.ingest_api.keys import ApiKey
from billing_pipelines.ingest_api.models import (
    MAX_RECORDS_PER_REQUEST,
    ContractIn,
    CustomerIn,
    Rejection,
    UsageEventIn,
    contract_item_rows,
    contract_row,
    customer_row,
    fast_usage_rows,
    fast_validate,
    payload_text,
    usage_rows,
    validate_records,
)
from billing_pipelines.ingest_api.requests import answer_once, json_array, json_response, read_body
from billing_pipelines.ingest_api.spool import Placement
from billing_pipelines.lib.event_time_range import EventTimeRange


class DirectRoute(APIRoute):
    """A route whose endpoint takes the request and returns the response itself: shown in the
    OpenAPI like any other, but called without FastAPI's parameter and dependency machinery,
    which would cost the usage push (the hot path) about a tenth of its time."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


router = APIRouter(prefix="/v1")
usage_router = APIRouter(prefix="/v1", route_class=DirectRoute)


class RejectedRecord(BaseModel):
    index: int
    reason: str


class DuplicateEvent(BaseModel):
    index: int
    event_id: str


class PushResult(BaseModel):
    """What became of each record of a request (by its index in the array)."""

    request_id: str
    accepted: list[int]
    duplicates: list[DuplicateEvent] = []
    rejected: list[RejectedRecord]


def array_body(model: type[BaseModel]) -> dict:
    """The OpenAPI request body of an endpoint that takes a JSON array of `model` records."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_RECORDS_PER_REQUEST,
                        "items": inline_definitions(model.model_json_schema()),
                    }
                }
            },
        }
    }


def inline_definitions(schema: dict) -> dict:
    """A pydantic JSON schema with its `$defs` written in place (an OpenAPI operation cannot
    point into them); the input models are not recursive."""
    definitions = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": PushResult, "description": "every record accepted, duplicate or rejected, on disk"},
    **error_responses(400, 401, 403, 409, 413, 422, 429, 507),
}


def rejection_rows(dataset: str, request_id: str, rejections: list[Rejection]) -> list[tuple[str, ...]]:
    """Rejected records as `rejected_records` landing rows: where they came from and why."""
    return [
        (dataset, f"{dataset} request {request_id} index {rejection.index}", rejection.reason, rejection.payload)
        for rejection in rejections
    ]


def delivery_keys(rows: list[tuple[str, ...]], with_values: bool = True) -> list[tuple[str, int] | str]:
    """What makes a pushed usage row a repeat of one landed before: its event_id with the same
    values (a retry). The same id with other values is a different delivery: it is landed, so
    the canonical model shows the conflict (quarantined as a conflicting duplicate) instead of
    the API dropping it unseen. A row without an id has no key (canonical dedups its content).
    The values are hashed by Python, which is consistent within one API process, all that the
    in-memory index (`replay.RecentEventIds`) needs. Without `with_values` the id alone is the
    key (the manual form's event id stands for one submission, sent twice by a double click
    whose timestamp differs)."""
    return [((row[0], hash(row)) if with_values else (row[0], None)) if row[0] else "" for row in rows]


async def land(
    request: Request,
    rows_by_dataset: dict[str, list[tuple[str, ...]]],
    drop_repeats: bool = False,
    same_values: bool = True,
) -> dict[str, Placement]:
    """Append every non-empty row list to its landing file; returns once all are on disk, with
    where each landed. With `drop_repeats`, usage rows landed before (`delivery_keys`) are left
    out and reported as duplicates."""
    spool = request.app.state.services.spool
    datasets = [dataset for dataset, rows in rows_by_dataset.items() if rows]
    appends = [
        spool.append(
            dataset,
            rows_by_dataset[dataset],
            delivery_keys(rows_by_dataset[dataset], same_values)
            if drop_repeats and dataset == "usage_events"
            else None,
        )
        for dataset in datasets
    ]
    placements = [await appends[0]] if len(appends) == 1 else await asyncio.gather(*appends)  # one: the usual
    return dict(zip(datasets, placements, strict=True))


def new_request_id() -> str:
    return secrets.token_hex(8)


@usage_router.post(
    "/usage-events",
    status_code=202,
    responses=PUSH_RESPONSES,
    openapi_extra=array_body(UsageEventIn) | BEARER_SECURITY,
    summary="Push 1 to 1,000 usage events",
)
async def push_usage_events(request: Request) -> Response:
    key = key_for(request, "usage:write")
    services = request.app.state.services
    body = await read_body(request, services.settings.max_body_bytes)

    async def handle(body: bytes) -> Response:
        request_id = new_request_id()
        indexes, rows, rejected = read_usage_events(body, services.event_time_range, datetime.now(UTC))
        placements = await land(
            request,
            {"usage_events": rows, REJECTED_RECORDS: rejection_rows("usage_events", request_id, rejected)},
            drop_repeats=True,
        )
        repeated = set(placements["usage_events"].duplicates) if "usage_events" in placements else set()
        return json_response(
            {
                "request_id": request_id,
                "accepted": [index for position, index in enumerate(indexes) if position not in repeated],
                "duplicates": [
                    {"index": indexes[position], "event_id": rows[position][0]} for position in sorted(repeated)
                ],
                "rejected": [{"index": r.index, "reason": r.reason} for r in rejected],
            }
        )

    return await answer_once(request, key, body, handle)


def read_usage_events(
    body: bytes, time_range: EventTimeRange, now: datetime
) -> tuple[list[int], list[tuple[str, ...]], list[Rejection]]:
    """The request's events to land (their indexes and landing rows) and its rejected ones. A
    request whose events are all valid is read in one pass (the common case, and the fast
    one); otherwise each event is checked on its own, to name each problem."""
    rows = fast_usage_rows(body, *time_range.bounds(now))
    if rows is not None:
        return list(range(len(rows))), rows, []
    items = json_array(body)
    valid, rejected = validate_records(UsageEventIn, items)
    in_range = []
    for index, event in valid:
        problem = time_range.problem(event.timestamp, now)
        if problem is None:
            in_range.append((index, event))
        else:
            rejected.append(Rejection(index, f"timestamp: {problem}", payload_text(items[index])))
    rejected.sort(key=lambda rejection: rejection.index)
    rows = usage_rows([event for _, event in in_range], sent=[items[index] for index, _ in in_range])
    return [index for index, _ in in_range], rows, rejected


def validate_request(model: type[BaseModel], body: bytes) -> tuple[list, list[Rejection]]:
    """The request's valid records with their index, and the rejected ones. A request whose
    records are all valid is read in one pass from the body (the common case, and the fast
    one); otherwise record by record, to name each problem."""
    records = fast_validate(model, body)
    if records is not None and 1 <= len(records) <= MAX_RECORDS_PER_REQUEST:
        return list(enumerate(records)), []
    return validate_records(model, json_array(body))


@router.post(
    "/customers",
    status_code=202,
    responses=PUSH_RESPONSES,
    openapi_extra=array_body(CustomerIn),
    summary="Create or update 1 to 1,000 customers by external_id",
)
async def push_customers(request: Request, key: CustomersWriter) -> Response:
    return await _push_state(request, key, CustomerIn, "customers")


@router.post(
    "/contracts",
    status_code=202,
    responses=PUSH_RESPONSES,
    openapi_extra=array_body(ContractIn),
    summary="Create or update 1 to 1,000 contracts (with their items) by contract_id",
)
async def push_contracts(request: Request, key: ContractsWriter) -> Response:
    return await _push_state(request, key, ContractIn, "contracts")


async def _push_state(request: Request, key: ApiKey, model: type[BaseModel], dataset: str) -> Response:
    services = request.app.state.services
    body = await read_body(request, services.settings.max_body_bytes)

    async def handle(body: bytes) -> Response:
        request_id, now = new_request_id(), datetime.now(UTC)
        valid, rejected = validate_request(model, body)
        await land(
            request,
            {
                **state_rows(dataset, [record for _, record in valid], now),
                REJECTED_RECORDS: rejection_rows(dataset, request_id, rejected),
            },
        )
        return json_response(
            {
                "request_id": request_id,
                "accepted": [index for index, _ in valid],
                "rejected": [{"index": r.index, "reason": r.reason} for r in rejected],
            }
        )

    return await answer_once(request, key, body, handle)


def state_rows(dataset: str, records: list, received_at: datetime) -> dict[str, list[tuple[str, ...]]]:
    """Landing rows of accepted customers, or of contracts and their items."""
    if dataset == "customers":
        return {"customers": [customer_row(record, received_at) for record in records]}
    return {
        "contracts": [contract_row(record, received_at) for record in records],
        "contract_items": [row for record in records for row in contract_item_rows(record)],
    }
