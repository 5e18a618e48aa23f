"""Exogenous events: list, create and delete, validated exactly as `musktracker enrich`
does (musktracker.enrich.events), with each change refreshing the features it touches."""

from __future__ import annotations

from fastapi import Depends, Path, Request, Response

from musktracker.accounts import AccountError, list_accounts
from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.errors import ApiError, field_error, from_domain_error
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import ErrorBody, EventCreate, EventOut
from musktracker.api.services import services
from musktracker.db.models import ExogenousEvent
from musktracker.db.session import session_scope
from musktracker.db.types import MAX_ROW_ID
from musktracker.enrich.events import EventError, NewEvent, add_event, delete_event, list_events
from musktracker.security.apikeys import Scope

router = keyed_router(prefix="/v1/exogenous-events", tags=["exogenous events"])



def event_out(event: ExogenousEvent, usernames: dict[int, str]) -> EventOut:
    return EventOut(
        id=event.id,
        name=event.name,
        description=event.description,
        category=event.category,
        start=event.event_start,
        end=event.event_end,
        intensity=event.intensity,
        source=event.source,
        account=usernames.get(event.account_id) if event.account_id is not None else None,
        created_at=event.created_at,
    )


@router.get(
    "",
    response_model=list[EventOut],
    dependencies=[Depends(require(Scope.READ))],
    summary="List exogenous events, oldest first",
)
async def events_list(request: Request) -> Response:
    svc = services(request)

    def produce() -> list[EventOut]:
        with session_scope(svc.engine) as session:
            usernames = {a.id: a.username for a in list_accounts(session)}
            return [event_out(e, usernames) for e in list_events(session)]

    return await cached_json(request, svc.cache, produce)


@router.post(
    "",
    response_model=EventOut,
    status_code=201,
    dependencies=[Depends(require(Scope.WRITE))],
    summary="Add an exogenous event; features overlapping it are refreshed",
)
def events_create(request: Request, body: EventCreate) -> EventOut:
    new = NewEvent(
        name=body.name,
        start=body.start,
        end=body.end,
        intensity=body.intensity,
        category=body.category,
        description=body.description,
        source=body.source,
        account=body.account,
    )
    try:
        with session_scope(services(request).engine) as session:
            event = add_event(session, new)
            usernames = {a.id: a.username for a in list_accounts(session)}
            return event_out(event, usernames)
    except EventError as exc:
        raise from_domain_error(exc, "body", body.model_dump(mode="json")) from None
    except AccountError as exc:
        raise field_error("body.account", str(exc), body.account) from None


@router.delete(
    "/{event_id}",
    response_model=EventOut,
    dependencies=[Depends(require(Scope.WRITE))],
    responses={404: {"model": ErrorBody}},
    summary="Delete an exogenous event; features it affected are refreshed",
)
def events_delete(request: Request, event_id: int = Path(ge=1, le=MAX_ROW_ID)) -> EventOut:
    try:
        with session_scope(services(request).engine) as session:
            usernames = {a.id: a.username for a in list_accounts(session)}
            return event_out(delete_event(session, event_id), usernames)
    except EventError as exc:
        raise ApiError(404, str(exc)) from None
