"""Per-key sliding-window rate limits: exact counts over the last `window` seconds.

With Redis, one sorted set per key holds the request times and a Lua script trims, counts
and adds atomically, so every API instance shares the limit. Without Redis, each process
keeps its own window in memory (enough for one local instance).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after: float
    """Seconds until a request would be allowed again (0 when allowed)."""


class RateLimiter(Protocol):
    limit: int

    async def hit(self, key: str) -> RateDecision: ...


class MemoryRateLimiter:
    """Request times per key in this process."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str) -> RateDecision:
        now = time.monotonic()
        times = self._hits.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            return RateDecision(True, self.limit - len(times), 0.0)
        return RateDecision(False, 0, times[0] + self.window - now)


# KEYS[1]: the key's sorted set. ARGV: window ms, limit, unique member.
# Uses the server clock so every API instance agrees on "now".
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
"""


class RedisRateLimiter:
    """A window shared by every process through Redis."""

    def __init__(
        self, client: Redis, limit: int, window: float = WINDOW_SECONDS, prefix: str = "mt:rl:"
    ) -> None:
        self.limit = limit
        self.window_ms = int(window * 1000)
        self.prefix = prefix
        self._script = client.register_script(_SLIDING_WINDOW)

    async def hit(self, key: str) -> RateDecision:
        allowed, remaining, wait_ms = await self._script(
            keys=[self.prefix + key], args=[self.window_ms, self.limit, uuid.uuid4().hex]
        )
        return RateDecision(bool(allowed), int(remaining), max(int(wait_ms), 0) / 1000)
