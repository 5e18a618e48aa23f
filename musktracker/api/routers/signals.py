"""Signals: the events the pipeline built, their scores, and inbound events from other
producers. Ingestion validates with the same `RawEvent` model as `musktracker signals
ingest FILE.jsonl` and runs the same pipeline (`signals.factory.build_pipeline`, built once
per process: `Services.signal_pipeline`)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Body, Depends, Query, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, select
from sqlalchemy.engine import Engine

from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.errors import ApiError, field_error, field_path
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import (
    ErrorBody,
    EventsPage,
    IngestResult,
    SignalEventOut,
    SignalOut,
    SignalsPage,
)
from musktracker.api.services import services
from musktracker.db.models import Signal, SignalEvent
from musktracker.db.session import session_scope
from musktracker.security.apikeys import Scope
from musktracker.signals.event import RawEvent, inbound_event
from musktracker.signals.rules import RulesError
from musktracker.validation import reason

router = keyed_router(tags=["signals"])
PageT = TypeVar("PageT", bound=BaseModel)

MAX_PAGE = 500
MAX_INGEST_EVENTS = 1000
LIMIT = Query(50, ge=1, le=MAX_PAGE, description="Rows per page.")
OFFSET = Query(0, ge=0, le=10_000_000, description="Rows to skip (newest first).")

_EVENT_SCHEMA = RawEvent.model_json_schema()
INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT_SCHEMA,
                        {"type": "array", "items": _EVENT_SCHEMA, "maxItems": MAX_INGEST_EVENTS},
                    ]
                }
            }
        },
    }
}


def _page(
    engine: Engine, query: Select[Any], item: type[BaseModel], page: type[PageT],
    limit: int, offset: int,
) -> PageT:
    """One page of `query`'s rows as `item`s; one row more is read to know if a next exists."""
    with session_scope(engine) as session:
        rows = session.scalars(query.offset(offset).limit(limit + 1)).all()
        items = [item.model_validate(r, from_attributes=True) for r in rows[:limit]]
    next_offset = offset + limit if len(rows) > limit else None
    return page(items=items, limit=limit, offset=offset, next_offset=next_offset)


@router.get(
    "/v1/events",
    response_model=EventsPage,
    dependencies=[Depends(require(Scope.READ))],
    summary="Signal events (what happened, with evidence), most recently seen first",
)
async def events_list(request: Request, limit: int = LIMIT, offset: int = OFFSET) -> Response:
    svc = services(request)
    query = select(SignalEvent).order_by(SignalEvent.last_ts.desc(), SignalEvent.id.desc())
    return await cached_json(
        request, svc.cache,
        lambda: _page(svc.engine, query, SignalEventOut, EventsPage, limit, offset),
    )


@router.get(
    "/v1/signals",
    response_model=SignalsPage,
    dependencies=[Depends(require(Scope.READ))],
    summary="Scored signals (state, score, risk level), newest first",
)
async def signals_list(request: Request, limit: int = LIMIT, offset: int = OFFSET) -> Response:
    svc = services(request)
    query = select(Signal).order_by(Signal.ts.desc(), Signal.id.desc())
    return await cached_json(
        request, svc.cache, lambda: _page(svc.engine, query, SignalOut, SignalsPage, limit, offset)
    )


def _validated(payload: Any) -> list[RawEvent]:
    """Every event of the body, or a 422 naming the first bad field (`body[3].created_at`)."""
    single = not isinstance(payload, list)
    items = [payload] if single else payload
    if not items:
        raise field_error("body", "expected one event object or a non-empty list of them")
    if len(items) > MAX_INGEST_EVENTS:
        raise ApiError(413, f"{len(items)} events in one request; at most {MAX_INGEST_EVENTS}")
    events = []
    for i, item in enumerate(items):
        where = ["body"] if single else ["body", i]
        if not isinstance(item, dict):
            raise field_error(field_path(where), "expected a JSON object (one event)", item)
        try:
            events.append(inbound_event(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = field_path([*where, *err["loc"]])
            raise field_error(field, reason(err), err.get("input")) from None
    return events


@router.post(
    "/v1/signals/ingest",
    response_model=IngestResult,
    dependencies=[Depends(require(Scope.WRITE))],
    responses={503: {"model": ErrorBody}},
    openapi_extra=INGEST_BODY,
    summary="Run inbound events (one, or a list) through the signals pipeline",
)
def signals_ingest(request: Request, payload: Any = Body(...)) -> IngestResult:
    events = _validated(payload)
    try:
        pipeline = services(request).signal_pipeline()
    except RulesError as exc:
        raise ApiError(503, f"the signal rules cannot be loaded: {exc}") from None
    result = pipeline.process(events)
    return IngestResult(
        received=len(events),
        stored=result.stored,
        outbox_rows=result.outbox_rows,
        dropped=dict(result.dropped),
        scores=result.scores,
    )
