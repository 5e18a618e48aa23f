"""Liveness, readiness and Prometheus metrics: open to all, no key needed."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from musktracker.api import metrics
from musktracker.api.schemas import Health, Readiness
from musktracker.api.services import Services, services
from musktracker.db.session import require_schema
from musktracker.signals.rules import RulesError, load_rules

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
@router.head("/healthz", include_in_schema=False)  # load balancers probe with HEAD too
async def healthz() -> Health:
    return Health()


def _check_database(svc: Services) -> str:
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        require_schema(svc.engine)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"failed: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
    return "ok"


def _check_rules(svc: Services) -> str:
    # POST /v1/signals/ingest needs the rules file; RULES_PATH is relative to the working
    # directory, so a server started elsewhere answered 503 there while claiming ready.
    try:
        load_rules(Path(svc.settings.rules_path))
    except RulesError as exc:
        return f"failed: {str(exc)[:300]}"
    return "ok"


async def _check_redis(svc: Services) -> str:
    if svc.redis is None:
        return "not configured"
    try:
        await svc.redis.ping()
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"failed: {exc.__class__.__name__}: {exc}"
    return "ok"


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready."}},
    summary="Readiness: the database (migrated), Redis (when configured), the signal rules "
    "file and the sentiment champion (when one is registered: loaded into memory) are ready",
)
async def readyz(request: Request) -> JSONResponse:
    svc = services(request)
    checks = {
        "database": await run_in_threadpool(_check_database, svc),
        "redis": await _check_redis(svc),
        "signal_rules": await run_in_threadpool(_check_rules, svc),
    }
    if checks["database"] == "ok":
        checks["sentiment_model"] = await run_in_threadpool(svc.sentiment_readiness)
    ready = all(
        v in ("ok", "not configured", "not registered") or v.startswith("loaded")
        for v in checks.values()
    )
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
