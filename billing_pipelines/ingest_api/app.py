"""The push API: one FastAPI application over the landing zone (README "Push API").

`create_app(config)` builds it for a configuration; `billing-api serve` runs it under uvicorn.
Everything a request needs lives in `app.state.services`, opened when the app starts and
closed (open landing files sealed into the inbox) when it stops.
"""

from __future__ import annotations

import gc
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from billing_pipelines.config import BillingConfig, IngestApiConfig, load_config
from billing_pipelines.ingest_api import manual, push, source_webhooks, uploads
from billing_pipelines.ingest_api.auth import RateLimiter
from billing_pipelines.ingest_api.errors import install_error_handlers
from billing_pipelines.ingest_api.keys import KeyStore
from billing_pipelines.ingest_api.replay import IdempotencyStore, RecentEventIds
from billing_pipelines.ingest_api.spool import LandingSpool
from billing_pipelines.ingest_api.state import open_state
from billing_pipelines.lib.event_time_range import EventTimeRange


@dataclass
class Services:
    """What the routes share: the configuration and the API's state."""

    config: BillingConfig
    settings: IngestApiConfig
    keys: KeyStore
    rate_limiter: RateLimiter
    idempotency: IdempotencyStore
    event_time_range: EventTimeRange
    spool: LandingSpool

    @classmethod
    def open(cls, config: BillingConfig) -> Services:
        settings = config.ingest_api
        state = open_state(config.ingest_api_state_path)
        return cls(
            config=config,
            settings=settings,
            keys=KeyStore(state),
            # each worker process limits its share: together they allow the configured rate
            rate_limiter=RateLimiter(
                settings.requests_per_second / settings.workers, max(1, settings.burst // settings.workers)
            ),
            idempotency=IdempotencyStore(state, settings.idempotency_hours),
            event_time_range=config.event_time_range,
            spool=LandingSpool(
                config.landing_path,
                settings.segment_seconds,
                RecentEventIds(settings.event_index_hours, settings.event_index_max_ids),
            ),
        )

    def close(self) -> None:
        self.spool.close()
        self.idempotency.flush()
        self.keys.connection.close()


def tune_interpreter() -> None:
    """Settings for a process that mostly moves short-lived objects and waits on fsync."""
    # Every push allocates thousands of short-lived objects; the collector's default thresholds
    # would scan the whole heap many times a second. Keep what startup made out of its sight.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # The landing writer thread must get the interpreter back as soon as an fsync returns: every
    # request of its group waits for it.
    sys.setswitchinterval(0.0005)


def app_from_environment() -> FastAPI:
    """The app for the configuration `BILLING_CONFIG` names: what each uvicorn worker builds."""
    return create_app(load_config())


def create_app(config: BillingConfig) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        tune_interpreter()
        app.state.services = Services.open(config)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(
        title="billing_pipelines push API",
        version="1",
        description=(
            "Push usage events, customers, contracts and CSV files into the billing pipeline. "
            "Authenticate with 'Authorization: Bearer <API key>'. Every accepted record is on disk "
            "before the answer; the landing sensor carries it into the canonical tables."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.get("/healthz", summary="Liveness: the API answers and its landing zone is writable")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(push.usage_router)
    app.include_router(push.router)
    app.include_router(uploads.router)
    app.include_router(source_webhooks.router)
    app.include_router(manual.router)
    return app
