"""Where everything stands, for dashboards: the document of `musktracker status --json`
(without the database URL, which names a host)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Response

from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.routing import keyed_router
from musktracker.api.services import services
from musktracker.db.session import session_scope
from musktracker.security.apikeys import Scope
from musktracker.status import account_statuses, status_document, system_status

router = keyed_router(prefix="/v1", tags=["status"])


@router.get(
    "/status",
    dependencies=[Depends(require(Scope.READ))],
    summary="Per account: posts, buckets, last ingest, backtest and forecast; then the "
    "sentiment champion, labelled samples, retraining, signals and the alert outbox",
)
async def status(request: Request) -> Response:
    svc = services(request)

    def produce() -> dict[str, Any]:
        with session_scope(svc.engine) as session:
            accounts = account_statuses(session)
            shared = system_status(session, svc.settings.sentiment_model_name)
        return status_document(accounts, shared)

    return await cached_json(request, svc.cache, produce)
