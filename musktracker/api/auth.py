"""API-key authentication, scope checks and per-key rate limits, as route dependencies.

`Depends(require(Scope.READ))` on a route: no or unknown key is 401, a key without the
scope is 403, a key past its rate limit is 429 with Retry-After. Keys are looked up by
hash, off the event loop, and trusted for a few seconds in memory.
"""

from __future__ import annotations

import math

from fastapi import Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from musktracker.api import metrics
from musktracker.api.errors import ApiError
from musktracker.api.services import Services, services
from musktracker.db.session import session_scope
from musktracker.security.apikeys import KeyIdentity, Scope, hash_key, verify_key

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Create one with `musktracker apikeys create`.",
)


def _verify_in_db(svc: Services, presented: str) -> KeyIdentity | None:
    with session_scope(svc.engine) as session:
        return verify_key(session, presented)


async def authenticate(svc: Services, presented: str | None) -> KeyIdentity:
    if not presented:
        raise ApiError(
            401,
            f"missing API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    digest = hash_key(presented)
    identity = svc.keys.get(digest)
    if identity is None:
        identity = await run_in_threadpool(_verify_in_db, svc, presented)
        if identity is None:
            raise ApiError(
                401,
                f"the {API_KEY_HEADER} header does not hold a valid, unrevoked API key",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )
        svc.keys.put(digest, identity)
    return identity


async def admit(request: Request, scope: Scope) -> KeyIdentity:
    """The request's key if it has `scope` (or a higher one) and is within its rate limit.

    Once per request: the keyed route class calls it before the body is read (so a client
    without a valid key gets 401 whatever its body), and the route's dependency then finds
    the answer in the request's state instead of counting the request twice.
    """
    admitted: dict[Scope, KeyIdentity] | None = getattr(request.state, "admitted", None)
    if admitted is None:
        request.state.admitted = admitted = {}  # in the ASGI scope, shared by its Requests
    if scope not in admitted:
        admitted[scope] = await _admit(request, request.headers.get(API_KEY_HEADER), scope)
    return admitted[scope]


class RequireScope:
    """A dependency admitting keys with `scope` (or a higher one), within their rate limit."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        presented: str | None = Security(_header),  # declares the key in OpenAPI
    ) -> KeyIdentity:
        return await admit(request, self.scope)


def require(scope: Scope) -> RequireScope:
    return RequireScope(scope)


async def _admit(request: Request, presented: str | None, scope: Scope) -> KeyIdentity:
    svc = services(request)
    identity = await authenticate(svc, presented)
    if not identity.allows(scope):
        raise ApiError(
            403,
            f"API key {identity.name!r} lacks the {scope.label!r} scope this route needs",
        )
    decision = await svc.limiter.hit(identity.prefix)
    if not decision.allowed:
        metrics.RATE_LIMITED.inc()
        wait = max(1, math.ceil(decision.retry_after))
        raise ApiError(
            429,
            f"rate limit of {svc.limiter.limit} requests per minute reached for key "
            f"{identity.name!r}; retry in {wait} s",
            details={"limit_per_minute": svc.limiter.limit, "retry_after_seconds": wait},
            headers={"Retry-After": str(wait)},
        )
    return identity
