"""Builds the pipeline, the sources and the dispatcher from Settings (one place to wire)."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis
from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.signals.dedup import DatabaseDedupStore, Deduplicator, DedupStore, RedisDedupStore
from musktracker.signals.dispatcher import Dispatcher
from musktracker.signals.enrich import Enricher
from musktracker.signals.filter import FilterConfig
from musktracker.signals.notifiers.base import Notifier
from musktracker.signals.notifiers.telegram import TelegramNotifier
from musktracker.signals.notifiers.webhook import WebhookNotifier
from musktracker.signals.outbox import RetryPolicy
from musktracker.signals.pipeline import SignalPipeline
from musktracker.signals.providers.dexscreener import DexScreenerProvider
from musktracker.signals.providers.goplus import GoPlusProvider
from musktracker.signals.rules import RulesWatcher
from musktracker.signals.sources.base import Source
from musktracker.signals.sources.internal import (
    RegimeShiftSource,
    SentimentSwingSource,
    VolumeBurstSource,
)
from musktracker.signals.sources.posts import PostSource


def channel_thresholds(settings: Settings) -> dict[str, float]:
    """Score thresholds of the channels that are configured."""
    thresholds = {}
    if settings.telegram_bot_token and settings.telegram_chat_id:
        thresholds["telegram"] = settings.telegram_min_score
    if settings.webhook_url:
        thresholds["webhook"] = settings.webhook_min_score
    return thresholds


def dedup_store(settings: Settings) -> DedupStore:
    if settings.redis_url:
        return RedisDedupStore(redis.Redis.from_url(settings.redis_url))
    return DatabaseDedupStore()


def build_pipeline(
    settings: Settings, engine: Engine, rules: RulesWatcher | None = None
) -> SignalPipeline:
    watcher = rules or RulesWatcher(Path(settings.rules_path), settings.rules_reload_seconds)
    enricher = None
    if settings.signals_enrich:
        client = httpx.Client(timeout=settings.signals_provider_timeout_seconds)
        enricher = Enricher(
            engine,
            [
                DexScreenerProvider(client, settings.dexscreener_base_url),
                GoPlusProvider(client, settings.goplus_base_url),
            ],
            timeout=settings.signals_provider_timeout_seconds,
            fresh_seconds=settings.signals_provider_cache_seconds,
            breaker_failures=settings.signals_breaker_failures,
            breaker_cooldown=settings.signals_breaker_cooldown_seconds,
        )
    return SignalPipeline(
        engine,
        rules=watcher.current,
        filter_config=FilterConfig.from_strings(
            settings.signals_languages,
            settings.signals_blocked_accounts,
            settings.signals_blocked_words,
        ),
        dedup=Deduplicator(dedup_store(settings), settings.signals_dedup_days),
        thresholds=channel_thresholds(settings),
        enricher=enricher,
    )


def build_sources() -> list[Source]:
    return [PostSource(), VolumeBurstSource(), RegimeShiftSource(), SentimentSwingSource()]


def build_dispatcher(settings: Settings, engine: Engine) -> Dispatcher:
    client = httpx.Client(timeout=settings.outbox_http_timeout_seconds)
    notifiers: dict[str, Notifier] = {}
    if settings.telegram_bot_token and settings.telegram_chat_id:
        notifiers["telegram"] = TelegramNotifier(
            client,
            settings.telegram_api_base_url,
            settings.telegram_bot_token.get_secret_value(),
            settings.telegram_chat_id,
            settings.telegram_min_interval_seconds,
        )
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        notifiers["webhook"] = WebhookNotifier(client, settings.webhook_url, secret)
    policy = RetryPolicy(
        settings.outbox_max_attempts,
        settings.outbox_backoff_base_seconds,
        settings.outbox_backoff_max_seconds,
    )
    return Dispatcher(engine, notifiers, policy, settings.outbox_lease_seconds)
