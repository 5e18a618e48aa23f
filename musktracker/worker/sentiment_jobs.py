"""The sentiment retraining jobs.

`musktracker.sentiment.retrain` (on demand: `POST /v1/sentiment/retrain`, `musktracker run
--job musktracker.sentiment.retrain`): the same forced check as `musktracker sentiment
check-retrain --force`, so a challenger is trained on the training file plus every labelled
sample and promoted only if it beats the champion. The decision is stored and its id
returned.

`musktracker.sentiment.check_retrain` (daily slot): the unforced check, as `musktracker
sentiment check-retrain`: it measures the triggers, stores the decision, and trains a
challenger only when one fires. It skips (and says why) when no model was ever trained
(the first training is a deliberate `musktracker sentiment train`), when the sentiment
extra is not installed, or when a retraining is already queued or running.

One retraining at a time: each takes up to the better part of an hour of CPU, so a client
that repeats its POST must not queue a pile of them. With a broker the API sets
RETRAIN_LOCK_KEY in Redis to the task id when it queues one and that task deletes it when
it ends; without one the job runs in the API process and holds a process-wide lock. The
scheduled check takes both locks too (the Redis key with its own token, released only if
still its own), so a scheduled retraining and an API-queued one never run at once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
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
        _release_queued_lock(settings)


def _release_queued_lock(settings: Settings) -> None:
    """Free the key the API set when it queued this task (its value is the task id). A key
    held by another run (the scheduled check's token, or a later task's id after this one's
    expired) stays; run outside Celery (`musktracker run --job`), nothing was set for it."""
    if not settings.redis_url:
        return
    from celery import current_task

    # A proxy: outside a task it stands for None and has no `request`.
    task_id = getattr(getattr(current_task, "request", None), "id", None)
    if task_id is None:
        return
    client = redis.Redis.from_url(settings.redis_url)
    try:
        if client.get(RETRAIN_LOCK_KEY) == str(task_id).encode():
            client.delete(RETRAIN_LOCK_KEY)
    finally:
        client.close()


def check_retrain_sentiment(settings: Settings) -> dict[str, Any]:
    """The scheduled, unforced check: train a challenger only when a trigger fires."""
    if not _ever_trained(settings):
        return {"skipped": "no sentiment model was ever trained (`musktracker sentiment train`)"}
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return {"skipped": "the sentiment extra is not installed"}
    if not _running_here.acquire(blocking=False):
        return {"skipped": "a retraining is already running in this process"}
    client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    token = f"scheduled-{uuid.uuid4().hex}"
    try:
        if client is not None and not client.set(
            RETRAIN_LOCK_KEY, token, nx=True, ex=settings.worker_task_time_limit
        ):
            held = client.get(RETRAIN_LOCK_KEY)
            by = held.decode() if isinstance(held, bytes) else str(held)
            return {"skipped": f"a retraining is already queued or running (task {by})"}
        return _train_and_decide(settings, force=False)
    finally:
        _running_here.release()
        if client is not None:
            # Only our own lock: the key may have expired and been taken by a queued one.
            if client.get(RETRAIN_LOCK_KEY) == token.encode():
                client.delete(RETRAIN_LOCK_KEY)
            client.close()


def _ever_trained(settings: Settings) -> bool:
    """False when MLFLOW_TRACKING_URI is a local directory without a store yet (nothing
    was ever trained): the scheduled check must not create one or train the first model."""
    setting = settings.mlflow_tracking_uri
    if "://" in setting or setting.startswith("sqlite:"):
        return True
    return (Path(setting).expanduser() / "mlflow.db").is_file()


def _train_and_decide(settings: Settings, force: bool = True) -> dict[str, Any]:
    from musktracker.sentiment import services
    from musktracker.sentiment.data import LabelledTexts
    from musktracker.sentiment.retrain import check_retrain
    from musktracker.sentiment.training import ModelChoice, TrainingResult, run_training
    from musktracker.sentiment.transformer import TrainConfig

    engine = get_engine(settings.database_url)
    require_schema(engine)
    tracker = services.tracker(settings)
    if not force and tracker.champion() is None:
        return {"skipped": f"no champion of {tracker.model_name!r} to check"}
    base_train, dev = services.training_data_readers(settings)
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
        return run_training(
            kind,
            data,
            dev(),
            tracker,
            config,
            tags={"trigger": "retrain"},
            checkpoint=services.checkpointing(settings),  # a killed worker's run resumes
        )

    decision = check_retrain(
        engine, tracker, base_train, dev, services.thresholds(settings), train, force=force
    )
    return {
        "decision_id": decision.id,
        "fired": decision.fired,
        "kind": kind,
        "challenger_version": decision.challenger_version,
        "promoted": decision.promoted,
        "reason": decision.reason,
    }
