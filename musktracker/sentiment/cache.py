"""Prediction cache keyed by model version and text hash: Redis when REDIS_URL is set
(shared by every process), otherwise an in-process LRU with the same expiry rule."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import redis

KEY_PREFIX = "musktracker:sentiment:"
Probabilities = list[float]


def cache_key(model_version: str, text: str) -> str:
    """A key naming the model version and the SHA-256 of the text (no text is stored)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}{model_version}:{digest}"


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

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int) -> RedisCache:
        return cls(redis.Redis.from_url(url, socket_timeout=2.0), ttl_seconds)

    def get_many(self, keys: Sequence[str]) -> list[Probabilities | None]:
        if not keys:
            return []
        raw = self.client.mget(list(keys))
        return [json.loads(value) if value is not None else None for value in raw]

    def set_many(self, items: dict[str, Probabilities]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, json.dumps(value), ex=self.ttl)
        pipe.execute()


def make_cache(redis_url: str | None, size: int, ttl_seconds: int) -> PredictionCache:
    """Redis when a URL is configured, else memory."""
    if redis_url:
        return RedisCache.from_url(redis_url, ttl_seconds)
    return MemoryCache(size, ttl_seconds)
