"""Prediction cache keyed by model identity (name, version, MLflow run id) and text hash:
Redis when REDIS_URL is set (shared by every process), otherwise an in-process LRU with the
same expiry rule.

The key holds the registered model name and the run id, not only the version number: two
model names (or environments) on one Redis, or a registry rebuilt from scratch where
version 1 comes back, must never serve each other's probabilities.

Redis is an optimisation: when it cannot be reached, `RedisCache` answers every lookup with
a miss and drops writes, so scoring goes on without it; one warning is logged per outage
(and one when it comes back), not one per text.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import redis
import structlog

log = structlog.get_logger(__name__)

KEY_PREFIX = "musktracker:sentiment:"
Probabilities = list[float]


def cache_key(model_name: str, model_version: str, run_id: str, text: str) -> str:
    """A key naming the model (name, version and the MLflow run that produced the artifact)
    and the SHA-256 of the text (no text is stored)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}{model_name}:{model_version}:{run_id}:{digest}"


class PredictionCache(Protocol):
    """Probabilities by key; missing or expired keys come back as None."""

    def get_many(self, keys: Sequence[str]) -> list[Probabilities | None]: ...

    def set_many(self, items: dict[str, Probabilities]) -> None: ...


class MemoryCache:
    """Least-recently-used entries, at most `size`, each living `ttl_seconds`."""

    def __init__(
        self, size: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, Probabilities]] = OrderedDict()

    def get_many(self, keys: Sequence[str]) -> list[Probabilities | None]:
        now = self.clock()
        found: list[Probabilities | None] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                self._entries.pop(key, None)
                found.append(None)
                continue
            self._entries.move_to_end(key)
            found.append(entry[1])
        return found

    def set_many(self, items: dict[str, Probabilities]) -> None:
        expires = self.clock() + self.ttl
        for key, value in items.items():
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class RedisCache:
    """Entries in Redis as JSON with an expiry, read and written in one round trip each."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.unreachable = False
        """True from a failed call until the next one that works (one warning per outage)."""

    def _failed(self, exc: redis.RedisError, action: str) -> None:
        if not self.unreachable:
            log.warning("sentiment.cache_unavailable", action=action, error=str(exc))
        self.unreachable = True

    def _worked(self) -> None:
        if self.unreachable:
            log.info("sentiment.cache_available")
        self.unreachable = False

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int) -> RedisCache:
        return cls(redis.Redis.from_url(url, socket_timeout=2.0), ttl_seconds)

    def get_many(self, keys: Sequence[str]) -> list[Probabilities | None]:
        if not keys:
            return []
        try:
            raw = self.client.mget(list(keys))
        except redis.RedisError as exc:
            self._failed(exc, "read")
            return [None] * len(keys)
        self._worked()
        return [json.loads(value) if value is not None else None for value in raw]

    def set_many(self, items: dict[str, Probabilities]) -> None:
        if not items:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, json.dumps(value), ex=self.ttl)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._failed(exc, "write")
            return
        self._worked()


def make_cache(redis_url: str | None, size: int, ttl_seconds: int) -> PredictionCache:
    """Redis when a URL is configured, else memory."""
    if redis_url:
        return RedisCache.from_url(redis_url, ttl_seconds)
    return MemoryCache(size, ttl_seconds)
