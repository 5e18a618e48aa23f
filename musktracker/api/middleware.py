"""Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware):

- `RequestContextMiddleware`: a request id (the client's X-Request-ID if sane, else a new
  one) bound into every structlog line and set on every response; one access-log line and
  the Prometheus metrics per request.
- `JsonCorsMiddleware`: CORS, with refused preflights in the API's error shape.
- `BodySizeLimitMiddleware`: refuses bodies over the limit with 413, from Content-Length
  or while a chunked body streams in.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from musktracker.api import metrics
from musktracker.api.errors import error_body
from musktracker.logging import get_logger

log = get_logger("musktracker.api.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _route_template(scope: Scope) -> str:
    """The matched route's template (Starlette's router records it in the scope)."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    return metrics.UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        scope["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = _route_template(scope)
                metrics.observe(scope["method"], route, status, elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


_PREFLIGHT_FIELDS = {
    "origin": "origin",
    "method": "access-control-request-method",
    "headers": "access-control-request-headers",
    "private-network": "access-control-request-private-network",
}


class JsonCorsMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight in the API's error shape,
    naming each refused header and value (Starlette answers plain text)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
        details = [
            {
                "field": f"header.{_PREFLIGHT_FIELDS[what]}",
                "value": request_headers.get(_PREFLIGHT_FIELDS[what], ""),
            }
            for what in refused
            if what in _PREFLIGHT_FIELDS
        ]
        named = ", ".join(f"{d['field']} {d['value']!r}" for d in details)
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
        }
        return JSONResponse(
            error_body("bad_request", f"CORS preflight refused: {named} not allowed", details),
            status_code=400,
            headers=headers,
        )


class BodyTooLarge(HTTPException):
    """A 413 carrying the limit; an HTTPException because FastAPI turns any other error
    raised while it reads a body into a 400."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(413, message)
        self.details = {"limit": limit}


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"request body is larger than the limit of {self.max_bytes} bytes "
            "(API_MAX_BODY_BYTES); send less per request"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        declared = int(length) if length.isdigit() else 0
        received = 0

        async def limited_receive() -> Message:
            # Refused when the route reads the body, not before routing: the 413 is then
            # logged and counted under its route rather than as `<unmatched>`.
            nonlocal received
            if declared > self.max_bytes:
                raise BodyTooLarge(self._message(), self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self._message(), self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
