"""The on-demand sentiment retraining job (`POST /v1/sentiment/retrain`, `musktracker run
--job musktracker.sentiment.retrain`): the same forced check as `musktracker sentiment
check-retrain --force`, so a challenger is trained on the training file plus every labelled
sample and promoted only if it beats the champion. The decision is stored and its id
returned.

One retraining at a time: each takes up to the better part of an hour of CPU, so a client
that repeats its POST must not queue a pile of them. With a broker the API sets
RETRAIN_LOCK_KEY in Redis when it queues one and the job deletes it when it ends; without
one the job runs in the API process and holds a process-wide lock."""

from __future__ import annotations

import threading
from typing import Any

import redis

from musktracker.config import Settings
from musktracker.db.session import get_engine, require_schema

RETRAIN_LOCK_KEY = "musktracker:sentiment:retrain"
_running_here = threading.Lock()


class RetrainBusyError(RuntimeError):
    """A retraining is already running in this process."""


def retrain_sentiment(settings: Settings) -> dict[str, Any]:
    """Train a challenger now and store the decision (the classic model when
    SENTIMENT_RETRAIN_CLASSIC is set or torch is missing); then free the retraining lock."""
    if not _running_here.acquire(blocking=False):
        raise RetrainBusyError("a retraining is already running in this process")
    try:
        return _train_and_decide(settings)
    finally:
        _running_here.release()
        if settings.redis_url:
            redis.Redis.from_url(settings.redis_url).delete(RETRAIN_LOCK_KEY)


def _train_and_decide(settings: Settings) -> dict[str, Any]:
    from musktracker.sentiment import services
    from musktracker.sentiment.data import LabelledTexts
    from musktracker.sentiment.retrain import check_retrain
    from musktracker.sentiment.training import ModelChoice, TrainingResult, run_training
    from musktracker.sentiment.transformer import TrainConfig

    engine = get_engine(settings.database_url)
    require_schema(engine)
    tracker = services.tracker(settings)
    base_train, dev = services.training_data(settings)
    kind: ModelChoice = (
        "classic"
        if settings.sentiment_retrain_classic or not services.torch_available()
        else "transformer"
    )
    config = (
        TrainConfig(
            base_model=settings.sentiment_base_model, threads=settings.sentiment_torch_threads
        )
        if kind == "transformer"
        else None
    )

    def train(data: LabelledTexts) -> TrainingResult:
        return run_training(kind, data, dev, tracker, config, tags={"trigger": "retrain"})

    decision = check_retrain(
        engine, tracker, base_train, dev, services.thresholds(settings), train, force=True
    )
    return {
        "decision_id": decision.id,
        "kind": kind,
        "challenger_version": decision.challenger_version,
        "promoted": decision.promoted,
        "reason": decision.reason,
    }
