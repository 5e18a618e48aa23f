"""Building the sentiment pieces from Settings, for the CLI, the API and the worker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.sentiment.cache import make_cache
from musktracker.sentiment.consumer import SentimentConsumer
from musktracker.sentiment.data import LabelledTexts, read_labelled
from musktracker.sentiment.inference import Predictor
from musktracker.sentiment.retrain import Thresholds
from musktracker.sentiment.tracking import Tracker
from musktracker.sentiment.training import Checkpointing


def tracker(settings: Settings) -> Tracker:
    return Tracker(settings.mlflow_tracking_uri, settings.sentiment_model_name)


def predictor(settings: Settings) -> Predictor:
    """A champion predictor with the configured cache, threads and reload interval."""
    return Predictor(
        tracker(settings),
        make_cache(
            settings.redis_url, settings.sentiment_cache_size, settings.sentiment_cache_ttl_seconds
        ),
        threads=settings.sentiment_torch_threads,
        batch_size=settings.sentiment_batch_size,
        reload_seconds=settings.sentiment_reload_seconds,
        runtime=settings.sentiment_runtime,
    )


def consumer(settings: Settings, engine: Engine) -> SentimentConsumer:
    """The post consumer the ingestion pipeline registers."""
    return SentimentConsumer(engine, predictor(settings), settings.store_post_text)


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        min_samples=settings.sentiment_retrain_min_samples,
        max_hours=settings.sentiment_retrain_max_hours,
        min_confidence=settings.sentiment_retrain_min_confidence,
        psi=settings.sentiment_retrain_psi_threshold,
        window=settings.sentiment_retrain_window,
    )


def training_data(settings: Settings) -> tuple[LabelledTexts, LabelledTexts]:
    """The configured training and dev files."""
    return (
        read_labelled(Path(settings.sentiment_train_file), "SENTIMENT_TRAIN_FILE"),
        read_labelled(Path(settings.sentiment_dev_file), "SENTIMENT_DEV_FILE"),
    )


def training_data_readers(
    settings: Settings,
) -> tuple[Callable[[], LabelledTexts], Callable[[], LabelledTexts]]:
    """Functions reading the configured training and dev files, each read at most once:
    a check where no trigger fires reads neither."""
    return (
        functools.cache(
            lambda: read_labelled(Path(settings.sentiment_train_file), "SENTIMENT_TRAIN_FILE")
        ),
        functools.cache(
            lambda: read_labelled(Path(settings.sentiment_dev_file), "SENTIMENT_DEV_FILE")
        ),
    )


def checkpointing(settings: Settings) -> Checkpointing:
    """Where and how often fine-tuning runs save their state (resumed after a crash)."""
    return Checkpointing(
        settings.sentiment_checkpoint_dir, settings.sentiment_checkpoint_minutes * 60
    )


def torch_available() -> bool:
    """Whether the transformer can be trained and served here."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
