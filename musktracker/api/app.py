"""The FastAPI application factory: routers per area, middleware, error bodies, lifespan.

`create_app()` reads Settings; `musktracker serve` runs it under uvicorn (as a factory, so
every worker process builds its own engine and Redis connections).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from musktracker import __version__
from musktracker.api.errors import install_error_handlers
from musktracker.api.middleware import (
    BodySizeLimitMiddleware,
    JsonCorsMiddleware,
    RequestContextMiddleware,
)
from musktracker.api.routers import (
    accounts,
    events,
    health,
    models,
    sentiment,
    signals,
    status,
    volume,
)
from musktracker.api.schemas import ErrorBody
from musktracker.api.services import Services
from musktracker.config import Settings, get_settings
from musktracker.logging import configure_logging

SERVER_ERROR: dict[int | str, dict[str, object]] = {
    500: {"model": ErrorBody, "description": "Unexpected server error (no details are exposed)."}
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    svc = Services.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Start loading a registered sentiment champion now, not on the first request.
        await run_in_threadpool(svc.sentiment_readiness)
        yield
        await svc.close()

    app = FastAPI(
        title="MuskTracker API",
        version=__version__,
        description="Post counts, models and exogenous events of tracked X accounts. "
        "Send an API key in X-API-Key (create one with `musktracker apikeys create`).",
        lifespan=lifespan,
        responses=SERVER_ERROR,
    )
    app.state.services = svc
    install_error_handlers(app)
    for area in (health, accounts, volume, events, models, signals, sentiment, status):
        app.include_router(area.router)
    # Added innermost first: the body limit sits inside CORS, which sits inside the
    # request context (so every answer, even a 413 or a preflight, carries the request id).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            JsonCorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app
