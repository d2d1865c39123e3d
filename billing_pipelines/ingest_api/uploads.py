"""`POST /v1/uploads/{dataset}`: a CSV file into the landing zone; `GET /v1/uploads/{id}`: what
became of it.

The file is written to disk and fsync'd before the answer, then renamed into the inbox of its
dataset as `upload-<id>.csv`, exactly as if a user had dropped it there: the landing sensor
archives it and loads it. A file whose header is not the dataset's column set is refused at once
(422, naming the expected columns). Its status moves from `received` (in the inbox) to `loading`
(archived, its run launched) to `processed` (loaded: counts and row errors) or `rejected` (the
file was unusable, with the reason).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from billing_pipelines.config import BillingConfig
from billing_pipelines.defs.landing.archive import ARCHIVE, RECORD_SUFFIX, REJECTED, file_digest
from billing_pipelines.defs.landing.csv_reader import RejectedFile, check_columns, read_header
from billing_pipelines.ingest_api.auth import UploadsWriter
from billing_pipelines.ingest_api.errors import ApiError, error_responses
from billing_pipelines.ingest_api.requests import json_response
from billing_pipelines.ingest_api.spool import fsync_directory

OUTCOMES = "outcomes"
HEADER_BYTES = 64 * 1024
router = APIRouter(prefix="/v1/uploads")
UploadDataset = Literal["customers", "contracts", "contract_items", "usage_events"]


class UploadStatus(BaseModel):
    """An upload and, once the pipeline has it, what it loaded."""

    upload_id: str
    dataset: str
    file_name: str
    bytes: int
    received_at: str
    status: Literal["received", "loading", "processed", "rejected"]
    outcome: dict | None = None


def uploads_folder(config: BillingConfig) -> Path:
    return config.ingest_api_state_path / "uploads"


@router.post(
    "/{dataset}",
    status_code=202,
    response_model=UploadStatus,
    summary="Upload a CSV file of one dataset (the body is the file)",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
    responses=error_responses(401, 403, 413, 422, 429, 507),
)
async def upload_csv(
    dataset: UploadDataset, request: Request, key: UploadsWriter, file_name: str = "upload.csv"
) -> Response:
    services = request.app.state.services
    upload_id = uuid.uuid4().hex[:20]
    incoming = services.spool.folder / "incoming-uploads" / f"upload-{upload_id}.csv"
    size = await write_durably(request, incoming, services.settings.max_upload_bytes)
    try:
        check_columns(dataset, read_header(first_bytes(incoming)))
    except RejectedFile as rejection:
        incoming.unlink()
        raise ApiError(422, "invalid_file", str(rejection)) from None
    record = {
        "upload_id": upload_id,
        "dataset": dataset,
        "file_name": file_name,
        "bytes": size,
        "received_at": datetime.now(UTC).isoformat(),
        "digest": file_digest(incoming),
    }
    inbox = services.config.landing_path / dataset / incoming.name
    inbox.parent.mkdir(parents=True, exist_ok=True)
    write_record(uploads_folder(services.config) / f"{upload_id}.json", record)
    os.rename(incoming, inbox)
    fsync_directory(inbox.parent)
    return json_response(upload_status(services.config, record))


@router.get(
    "/{upload_id}",
    response_model=UploadStatus,
    summary="What became of an upload",
    responses=error_responses(401, 403, 404, 429),
)
async def get_upload(upload_id: str, request: Request, key: UploadsWriter) -> Response:
    config = request.app.state.services.config
    path = uploads_folder(config) / f"{upload_id}.json"
    if not upload_id.isalnum() or not path.exists():
        raise ApiError(404, "not_found", f"no upload {upload_id!r}")
    return json_response(upload_status(config, json.loads(path.read_text())), status_code=200)


async def write_durably(request: Request, path: Path, limit: int) -> int:
    """Stream the body into `path` and fsync it; 413 (and nothing kept) past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the file is {declared} bytes; at most {limit} are accepted")
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                handle.close()
                path.unlink()
                raise ApiError(413, "payload_too_large", f"the file is larger than {limit} bytes")
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return size


def first_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEADER_BYTES)


def write_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, path)


def upload_status(config: BillingConfig, record: dict) -> dict:
    """The upload's record with where it stands in the landing zone."""
    landing, digest, dataset = config.landing_path, record["digest"], record["dataset"]
    public = {name: value for name, value in record.items() if name != "digest"}
    outcome_path = landing / OUTCOMES / f"{digest}.json"
    if outcome_path.exists():
        outcome = json.loads(outcome_path.read_text())
        return public | {"status": outcome.get("status", "processed"), "outcome": outcome}
    rejected = next((landing / REJECTED / dataset).glob(f"{digest}__*{RECORD_SUFFIX}"), None)
    if rejected is not None:
        return public | {"status": "rejected", "outcome": {"reason": json.loads(rejected.read_text())["reason"]}}
    if next((landing / ARCHIVE / dataset).glob(f"{digest}__*{RECORD_SUFFIX}"), None) is not None:
        return public | {"status": "loading", "outcome": None}
    return public | {"status": "received", "outcome": None}
