"""Enrich stage: ask every provider about each token, in parallel, never waiting long.

Per (provider, chain, token): a cached answer younger than the cache TTL is reused; else the
provider is called (in a thread pool, with the client's timeout) unless its circuit breaker
is open. A failed or skipped call falls back to the last good answer in `onchain_features`
(marked `<provider>_stale`), or to the neutral feature values when there is none: a slow or
broken provider degrades scores, it never stops the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.db.dialect import upsert
from musktracker.db.models import OnchainFeature
from musktracker.db.session import session_scope
from musktracker.logging import get_logger
from musktracker.signals.circuit import CircuitBreaker
from musktracker.signals.event import PipelineEvent
from musktracker.signals.metrics import EXTERNAL_ERRORS
from musktracker.signals.providers.base import Provider, ProviderError
from musktracker.utc import utcnow

log = get_logger(__name__)

Lookup = tuple[str, str, str]  # provider name, chain, token contract


class Enricher:
    def __init__(
        self,
        engine: Engine,
        providers: Sequence[Provider],
        *,
        timeout: float,
        fresh_seconds: float,
        breaker_failures: int,
        breaker_cooldown: float,
    ) -> None:
        self.engine = engine
        self.providers = {p.name: p for p in providers}
        self.timeout = timeout
        self.fresh = timedelta(seconds=fresh_seconds)
        self.breakers = {
            p.name: CircuitBreaker(breaker_failures, breaker_cooldown) for p in providers
        }
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enrich")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _cached(self, lookups: set[Lookup]) -> dict[Lookup, OnchainFeature]:
        tokens = {ca for _, _, ca in lookups}
        with session_scope(self.engine) as session:
            rows = session.scalars(
                select(OnchainFeature).where(OnchainFeature.token_ca.in_(tokens))
            ).all()
        return {(r.provider, r.chain, r.token_ca): r for r in rows}

    def _fallback(self, lookup: Lookup, row: OnchainFeature | None) -> dict[str, Any]:
        if row is None:
            return {}
        return {**row.features, f"{lookup[0]}_stale": True}

    def lookup_all(self, lookups: set[Lookup]) -> dict[Lookup, dict[str, Any]]:
        """Features for every lookup, from cache, a live call, or the stale fallback."""
        if not lookups:
            return {}
        cached = self._cached(lookups)
        now = utcnow()
        results: dict[Lookup, dict[str, Any]] = {}
        calls: dict[Lookup, Future[dict[str, Any]]] = {}
        for lookup in lookups:
            row = cached.get(lookup)
            if row is not None and now - row.fetched_at < self.fresh:
                results[lookup] = dict(row.features)
            elif self.breakers[lookup[0]].allow():
                provider = self.providers[lookup[0]]
                calls[lookup] = self._pool.submit(provider.fetch, lookup[1], lookup[2])
            else:
                EXTERNAL_ERRORS.labels(provider=lookup[0], code="circuit_open").inc()
                results[lookup] = self._fallback(lookup, row)
        wait(calls.values(), timeout=self.timeout + 0.5)
        fresh_rows = []
        for lookup, future in calls.items():
            breaker = self.breakers[lookup[0]]
            try:
                if not future.done():
                    raise ProviderError(lookup[0], "timeout", "no answer in time")
                features = future.result()
            except ProviderError as exc:
                breaker.record_failure()
                EXTERNAL_ERRORS.labels(provider=lookup[0], code=exc.code).inc()
                log.warning("provider failed", stage="enrich", provider=lookup[0], error=str(exc))
                results[lookup] = self._fallback(lookup, cached.get(lookup))
                continue
            breaker.record_success()
            results[lookup] = features
            fresh_rows.append(
                {
                    "provider": lookup[0],
                    "chain": lookup[1],
                    "token_ca": lookup[2],
                    "features": features,
                    "fetched_at": now,
                }
            )
        if fresh_rows:
            with session_scope(self.engine) as session:
                upsert(
                    session,
                    OnchainFeature,
                    fresh_rows,
                    key=["provider", "chain", "token_ca"],
                    update=["features", "fetched_at"],
                )
        return results

    def apply(self, events: Iterable[PipelineEvent]) -> None:
        """Attach provider features to every live event that names a token."""
        wanted: list[tuple[PipelineEvent, list[Lookup]]] = []
        for event in events:
            token = event.token
            if event.dropped is not None or token is None:
                continue
            chain, ca = token
            keys = [(name, chain, ca) for name, p in self.providers.items() if p.supports(chain)]
            wanted.append((event, keys))
        found = self.lookup_all({key for _, keys in wanted for key in keys})
        for event, keys in wanted:
            for key in keys:
                event.enrichment.update(found.get(key, {}))
