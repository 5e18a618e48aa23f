"""One error body for every failure: `{"error": {"code", "message", "details"}}`.

Validation errors name the field (`query.start`, `body.intensity`); server errors say only
that something failed and carry the request id, never a stack trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from musktracker.logging import get_logger
from musktracker.validation import reason

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "not_ready",
}

REDIS_RETRY_SECONDS = 5


class ApiError(Exception):
    """An expected failure with its HTTP status, machine code and human message."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
        self.message = message
        self.details = details
        self.headers = headers


def field_error(field: str, message: str, value: Any = None) -> ApiError:
    """A 422 that names the field at fault (e.g. `body.end`)."""
    detail = {"field": field, "message": message}
    if value is not None:
        detail["value"] = str(value)[:200]
    return ApiError(422, f"{field}: {message}", details=[detail])


_CLI_OPTION = re.compile(r"--([a-z][a-z_-]*)")


def from_domain_error(
    exc: Exception, location: str = "body", values: Mapping[str, Any] | None = None
) -> ApiError:
    """Turn a domain validation error (written for the CLI, naming `--option`s) into a 422
    naming the API field instead, so the message matches what the client sent; `values`
    holds what the client sent per field name, so the detail can echo it like any 422."""
    text = str(exc)
    found = _CLI_OPTION.search(text)
    name = found.group(1).replace("-", "_") if found else None
    field = f"{location}.{name}" if name else location
    message = _CLI_OPTION.sub(lambda m: m.group(1).replace("-", "_"), text)
    return field_error(field, message, (values or {}).get(name or ""))


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    out = dict(headers or {})
    request_id = request.scope.get("request_id")
    if request_id:
        out[REQUEST_ID_HEADER] = request_id
    return JSONResponse(error_body(code, message, details), status_code=status, headers=out)


def error_body(code: str, message: str, details: Any = None) -> Any:
    """The one shape of every error answer."""
    return jsonable_encoder({"error": {"code": code, "message": message, "details": details}})


def field_path(parts: Iterable[Any]) -> str:
    """One spelling for every field a 422 names: ("body", "texts", 1) -> `body.texts[1]`."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        if err["type"] == "json_invalid":
            problem = err.get("ctx", {}).get("error", "malformed")
            details.append({"field": "body", "message": f"not valid JSON ({problem})"})
            continue
        item: dict[str, Any] = {"field": field_path(err["loc"]), "message": reason(err)}
        if "input" in err and err["input"] is not None and err["type"] != "missing":
            item["value"] = str(err["input"])[:200]
        details.append(item)
    first = details[0] if details else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return error_response(request, 422, "validation_error", message, details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODES.get(status, f"http_{status}")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and message == "Not Found":
        message = f"no route {request.url.path}"
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = allowed = ", ".join(_allowed_methods(request))
        if message == "Method Not Allowed":
            message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return error_response(request, status, code, message, getattr(exc, "details", None), headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path, found by asking each route whether it
    fully matches the request with that method. Starlette's own Allow header lists only the
    first route that matched the path, so a PUT to a path whose GET and POST are routes of
    their own answered `Allow: GET`."""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    # The rate limiter and the response cache need Redis when REDIS_URL is set; an outage
    # is the dependency's failure, not the server's, and worth retrying shortly.
    log.error("redis unavailable", path=request.url.path, error=repr(exc))
    return error_response(
        request,
        503,
        "dependency_unavailable",
        f"Redis (REDIS_URL) did not answer ({exc.__class__.__name__}); "
        f"retry in {REDIS_RETRY_SECONDS} s",
        headers={"Retry-After": str(REDIS_RETRY_SECONDS)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # This handler runs outside the request-context middleware, so bind the id here.
    log.error(
        "unhandled error",
        path=request.url.path,
        request_id=request.scope.get("request_id"),
        exc_info=exc,
    )
    return error_response(
        request,
        500,
        "internal_error",
        "the server failed to answer this request; quote the request id when reporting it",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RedisError, _redis_error)
    app.add_exception_handler(Exception, _unexpected_error)
