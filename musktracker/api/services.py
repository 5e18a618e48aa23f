"""What the API's routes share for the life of the app: settings, the database engine,
Redis (when configured), the rate limiter, the response cache and verified keys."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from redis.asyncio import Redis
from sqlalchemy.engine import Engine

from musktracker.api.cache import MemoryCache, RedisCache, ResponseCache
from musktracker.config import Settings
from musktracker.db.session import get_engine
from musktracker.security.apikeys import KeyIdentity
from musktracker.security.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from musktracker.signals.factory import build_pipeline
from musktracker.signals.pipeline import SignalPipeline

if TYPE_CHECKING:
    from musktracker.sentiment.inference import Predictor


@dataclass
class KeyCache:
    """Keys verified recently, by hash, so most requests skip the database. A revoked key
    stops working within `ttl` seconds (API_KEY_CACHE_SECONDS)."""

    ttl: float
    _entries: dict[str, tuple[float, KeyIdentity]] = field(default_factory=dict)

    def get(self, key_hash: str) -> KeyIdentity | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, identity: KeyIdentity) -> None:
        if self.ttl > 0:
            self._entries[key_hash] = (time.monotonic() + self.ttl, identity)


def _cache_prefix(settings: Settings) -> str:
    """Cached answers belong to one database: deployments sharing a Redis never mix."""
    database = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return f"mt:cache:{database}:"


@dataclass
class Services:
    settings: Settings
    engine: Engine
    redis: Redis | None
    limiter: RateLimiter
    cache: ResponseCache | None
    keys: KeyCache
    _predictor: Predictor | None = None
    _predictor_lock: threading.Lock = field(default_factory=threading.Lock)
    _warming: threading.Thread | None = None
    _load_failure: str | None = None
    _failed_at: float = -float("inf")
    _pipeline: SignalPipeline | None = None
    _pipeline_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        limiter: RateLimiter = (
            RedisRateLimiter(redis, settings.api_rate_limit_per_minute)
            if redis is not None
            else MemoryRateLimiter(settings.api_rate_limit_per_minute)
        )
        cache: ResponseCache | None = None
        if settings.api_cache_ttl_seconds > 0:
            cache = (
                RedisCache(redis, settings.api_cache_ttl_seconds, _cache_prefix(settings))
                if redis is not None
                else MemoryCache(settings.api_cache_ttl_seconds)
            )
        return cls(
            settings=settings,
            engine=get_engine(settings.database_url),
            redis=redis,
            limiter=limiter,
            cache=cache,
            keys=KeyCache(settings.api_key_cache_seconds),
        )

    def signal_pipeline(self) -> SignalPipeline:
        """The signals pipeline of `POST /v1/signals/ingest`, built on first use and kept:
        building it per request re-read the rules file and opened an HTTP client and a
        Redis connection each time, never closed. Its rules still follow the file
        (RULES_RELOAD_SECONDS); a file that does not load raises RulesError, and the next
        request tries again."""
        with self._pipeline_lock:
            if self._pipeline is None:
                self._pipeline = build_pipeline(self.settings, self.engine)
            return self._pipeline

    def sentiment_predictor(self) -> Predictor:
        """The champion predictor, built on first use so the app starts without loading
        MLflow or torch; it reloads a newly promoted champion by itself."""
        with self._predictor_lock:
            if self._predictor is None:
                from musktracker.sentiment import services as sentiment_services

                self._predictor = sentiment_services.predictor(self.settings)
            return self._predictor

    def sentiment_readiness(self) -> str:
        """'not registered' (nothing to serve, fine), 'loading', 'loaded: version N' or
        'failed: ...'. When a champion is registered and not yet in memory, loading starts in
        a thread, so the first prediction does not pay for it and /readyz reports not ready
        until it is done. The version is the one the predictor holds now (a promotion it
        picked up shows), and a failed load is tried again once SENTIMENT_RELOAD_SECONDS
        have passed, so a fixed cause (artifacts restored) makes the process ready again."""
        with self._predictor_lock:
            if self._warming is not None and self._warming.is_alive():
                return "loading"
            loaded = self._predictor.loaded_version if self._predictor is not None else None
            if loaded is not None:
                return f"loaded: version {loaded}"
            retry_at = self._failed_at + self.settings.sentiment_reload_seconds
            if self._load_failure is not None and time.monotonic() < retry_at:
                return self._load_failure
            try:
                registered = self._champion_registered()
            except Exception as exc:  # the database check reports the cause
                return f"failed: {exc.__class__.__name__}"
            if not registered:
                return "not registered"
            self._warming = threading.Thread(target=self._warm_sentiment, daemon=True)
            self._warming.start()
            return "loading"

    def _champion_registered(self) -> bool:
        from musktracker.sentiment.registry import CHAMPION_STATUS, list_versions

        versions = list_versions(self.engine, self.settings.sentiment_model_name)
        return any(v.status == CHAMPION_STATUS for v in versions)

    def _warm_sentiment(self) -> None:
        try:
            self.sentiment_predictor().current()
            self._load_failure = None
        except Exception as exc:  # reported by /readyz; the routes give their own 503
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            self._load_failure = f"failed: {exc.__class__.__name__}: {first_line}"
            self._failed_at = time.monotonic()

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
