"""Scopes, rate-limit windows, the response cache and error mapping, without services."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request

from musktracker.api.cache import MemoryCache, cached_json
from musktracker.api.errors import from_domain_error
from musktracker.config import Settings
from musktracker.enrich.events import EventError
from musktracker.security.apikeys import (
    KEY_PATTERN,
    ApiKeyError,
    KeyIdentity,
    Scope,
    format_scopes,
    hash_key,
    parse_scopes,
)
from musktracker.security.ratelimit import MemoryRateLimiter


def test_scopes_parse_and_nest() -> None:
    assert parse_scopes(" Read, write ") == {Scope.READ, Scope.WRITE}
    assert format_scopes(parse_scopes("admin,read")) == "read,admin"
    with pytest.raises(ApiKeyError, match="'root' is not a scope"):
        parse_scopes("read,root")
    with pytest.raises(ApiKeyError, match="names no scope"):
        parse_scopes(" , ")
    admin = KeyIdentity(1, "a", "0" * 8, frozenset({Scope.ADMIN}))
    reader = KeyIdentity(2, "r", "1" * 8, frozenset({Scope.READ}))
    writer = KeyIdentity(3, "w", "2" * 8, frozenset({Scope.WRITE}))
    assert all(admin.allows(s) for s in Scope)
    assert reader.allows(Scope.READ) and not reader.allows(Scope.WRITE)
    assert writer.allows(Scope.READ) and not writer.allows(Scope.ADMIN)


def test_key_format_and_hash() -> None:
    assert KEY_PATTERN.match("mt_0a1b2c3d_" + "A" * 43)
    assert not KEY_PATTERN.match("mt_0a1b2c3d_short")
    assert hash_key("x") == hash_key("x") != hash_key("y")
    assert len(hash_key("x")) == 64


def test_memory_rate_limiter_slides() -> None:
    limiter = MemoryRateLimiter(limit=2, window=0.3)

    async def scenario() -> list[bool]:
        out = [(await limiter.hit("k")).allowed for _ in range(3)]
        denied = await limiter.hit("k")
        assert 0 < denied.retry_after <= 0.3
        assert (await limiter.hit("other")).allowed
        await asyncio.sleep(0.35)
        out.append((await limiter.hit("k")).allowed)
        return out

    assert asyncio.run(scenario()) == [True, True, False, True]


def test_memory_cache_expires_and_is_bounded() -> None:
    cache = MemoryCache(ttl=0.2, max_entries=2)

    async def scenario() -> None:
        await cache.set("a", b"1")
        await cache.set("b", b"2")
        await cache.set("c", b"3")
        assert await cache.get("a") is None  # evicted, oldest first
        assert await cache.get("c") == b"3"
        time.sleep(0.25)
        assert await cache.get("c") is None

    asyncio.run(scenario())


def test_cli_option_names_become_api_fields() -> None:
    error = from_domain_error(EventError("--end 2025 must be after --start 2026"), "body")
    assert error.status == 422
    assert error.details == [{"field": "body.end", "message": "end 2025 must be after start 2026"}]
    assert error.message == "body.end: end 2025 must be after start 2026"


def test_settings_keep_visibility_timeout_above_task_limit() -> None:
    with pytest.raises(ValueError, match="WORKER_VISIBILITY_TIMEOUT"):
        Settings(worker_task_time_limit=600, worker_visibility_timeout=600)
    assert Settings(api_cors_origins=" https://a.example, https://b.example ").cors_origins == [
        "https://a.example",
        "https://b.example",
    ]
    assert Settings(api_cors_origins="").cors_origins == []


def test_concurrent_misses_share_one_computation() -> None:
    cache = MemoryCache(ttl=60)
    calls: list[int] = []

    def produce() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.05)  # a slow query, run in a worker thread
        return {"n": 1}

    def request() -> Request:
        return Request(
            {
                "type": "http",
                "path": "/v1/x",
                "query_string": b"b=2&a=1",
                "headers": [],
                "method": "GET",
            }
        )

    async def scenario() -> list[bytes]:
        answers = await asyncio.gather(*(cached_json(request(), cache, produce) for _ in range(8)))
        return [bytes(a.body) for a in answers]

    assert asyncio.run(scenario()) == [b'{"n":1}'] * 8
    assert len(calls) == 1 and cache.inflight == {}
    assert asyncio.run(cache.get("/v1/x?a=1&b=2")) == b'{"n":1}'
