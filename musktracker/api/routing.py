"""How the keyed routers are built: JSON bodies must hold valid Unicode, and the error
answers every keyed route can give are documented in OpenAPI (not on the open health
routes, which never answer 401 or 429).

JSON may spell a lone UTF-16 surrogate (`"\\ud800"`); Python decodes it into a `str` that
cannot be encoded as UTF-8, so it would pass validation and fail later (writing it to the
database, or echoing it in an error body) as a 500. Refusing it while the body is decoded
turns it into the usual 422 for malformed JSON, naming where it was found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from musktracker.api.auth import RequireScope, admit
from musktracker.api.errors import ApiError
from musktracker.api.schemas import ErrorBody

KEYED_ROUTE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "No API key, or not a valid one.",
        403: "The key lacks the scope this route needs.",
        413: "The request body is over the size limit.",
        415: "A body sent as another media type than application/json.",
        422: "A parameter or body field is invalid; the message names it.",
        429: "Over the per-key rate limit; see Retry-After.",
    }.items()
}


def _first_lone_surrogate(value: Any, path: str) -> tuple[str, str] | None:
    """(path, escaped character) of the first string holding a lone surrogate, else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return path, value[exc.start].encode("unicode_escape").decode("ascii")
        return None
    if isinstance(value, list):
        children = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        children = [(path, key) for key in value] + [
            (f"{path}.{key}", item) for key, item in value.items()
        ]
    else:
        return None
    for child_path, child in children:
        found = _first_lone_surrogate(child, child_path)
        if found:
            return found
    return None


class UnicodeJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = json.loads(body)
            found = _first_lone_surrogate(parsed, "body")
            if found:
                where, char = found
                raise json.JSONDecodeError(
                    f"{where} holds a lone UTF-16 surrogate {char}, which is not a character",
                    body.decode("utf-8", "replace"),
                    0,
                )
            self._json = parsed
        return self._json


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class UnicodeJsonRoute(APIRoute):
    """An APIRoute that checks the API key before the body (FastAPI reads and parses the body
    before any dependency, so a keyless client sending malformed JSON got 422, not 401),
    reads the body through `UnicodeJsonRequest`, and answers 415 to a body sent as another
    media type (FastAPI would hand the raw bytes to validation, whose 422 shows them as a
    Python bytes literal)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None
        scopes = [
            d.call.scope for d in self.dependant.dependencies if isinstance(d.call, RequireScope)
        ]

        async def strict_handler(request: Request) -> Response:
            for scope in scopes:  # the key first: 401 whatever the body holds
                await admit(request, scope)
            content_type = request.headers.get("content-type")
            if takes_body and content_type and not _is_json(content_type):
                raise ApiError(
                    415,
                    f"Content-Type {content_type!r}: send the body as application/json",
                    details=[{"field": "header.content-type", "value": content_type}],
                )
            return await handler(UnicodeJsonRequest(request.scope, request.receive))

        return strict_handler


def keyed_router(**options: Any) -> APIRouter:
    """A router for routes that need an API key (`options` as for APIRouter)."""
    return APIRouter(route_class=UnicodeJsonRoute, responses=KEYED_ROUTE_ERRORS, **options)
