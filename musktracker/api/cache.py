"""A short-lived cache of GET answers (JSON bytes), so hot read routes skip the database.

Redis when configured (shared by every instance), else a bounded in-process dict. Entries
expire after API_CACHE_TTL_SECONDS; data changes show up within that time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool

from musktracker.api import metrics

JSON = "application/json"


class ResponseCache(Protocol):
    inflight: dict[str, asyncio.Future[bytes]]
    """Answers being computed in this process, so concurrent misses share one computation."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes) -> None: ...


class MemoryCache:
    """Bounded LRU with expiry, for one process."""

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.inflight: dict[str, asyncio.Future[bytes]] = {}

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisCache:
    """Entries shared through Redis with a millisecond expiry."""

    def __init__(self, client: Redis, ttl: float, prefix: str = "mt:cache:") -> None:
        self.client = client
        self.ttl_ms = max(int(ttl * 1000), 1)
        self.prefix = prefix
        self.inflight: dict[str, asyncio.Future[bytes]] = {}

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self.prefix + key)
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes) -> None:
        await self.client.set(self.prefix + key, value, px=self.ttl_ms)


def cache_key(request: Request) -> str:
    """Path plus the query parameters in a stable order."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    return f"{request.url.path}?{query}"


async def _render(produce: Callable[[], Any]) -> bytes:
    return bytes(JSONResponse(jsonable_encoder(await run_in_threadpool(produce))).body)


async def _render_and_store(
    cache: ResponseCache, key: str, render: Callable[[], Awaitable[bytes]]
) -> bytes:
    body = await render()
    await cache.set(key, body)
    return body


async def cached_json(
    request: Request, cache: ResponseCache | None, produce: Callable[[], Any]
) -> Response:
    """Answer from the cache, or run `produce` (blocking work, off the event loop), encode
    its result as JSON and cache it. Concurrent misses for one key wait for a single
    computation instead of each querying the database (no stampede when an entry expires).
    Errors raised by `produce` reach every waiter and are never cached."""
    return await cached_response(request, cache, lambda: _render(produce), JSON)


async def cached_bytes(
    request: Request, cache: ResponseCache | None, produce: Callable[[], bytes], media_type: str
) -> Response:
    """`cached_json` for a body that is already bytes (e.g. a PNG chart)."""
    return await cached_response(request, cache, lambda: run_in_threadpool(produce), media_type)


async def cached_response(
    request: Request,
    cache: ResponseCache | None,
    render: Callable[[], Awaitable[bytes]],
    media_type: str,
) -> Response:
    if cache is None:
        return Response(await render(), media_type=media_type)
    key = cache_key(request)
    hit = await cache.get(key)
    if hit is not None:
        metrics.CACHE.labels("hit").inc()
        return Response(hit, media_type=media_type)
    metrics.CACHE.labels("miss").inc()
    pending = cache.inflight.get(key)
    if pending is None:
        pending = asyncio.ensure_future(_render_and_store(cache, key, render))
        cache.inflight[key] = pending
        pending.add_done_callback(lambda _: cache.inflight.pop(key, None))
    return Response(await asyncio.shield(pending), media_type=media_type)
