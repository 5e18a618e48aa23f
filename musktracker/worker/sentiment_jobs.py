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

One retraining at a time: each takes up to the better part of an hour of CPU, and two at
once would store two challengers and two decisions. Two locks, for two things:

- RETRAIN_DB_LOCK, a database lock (`worker/locks.py`), is held while a check measures,
  trains and decides, by every process on the database: a Celery task, `musktracker run`,
  the API running the job itself without a broker, `sentiment check-retrain`. It is never
  waited for here: the forced job raises RetrainBusyError (the API answers 409), the
  scheduled check skips. It dies with its holder, so a killed retraining leaves nothing.
- RETRAIN_LOCK_KEY, a Redis key, marks a retraining as queued: the API sets it to the task
  id before the task reaches a worker (the database lock is free until then) and the task
  deletes it when it ends, so a repeated POST is a 409 rather than a pile of queued hours.
  The scheduled check takes it too (with its own token, released only if still its own),
  so it does not train just before a queued one and a POST meanwhile is refused at once.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.db.session import get_engine, require_schema
from musktracker.worker.locks import LockBusyError, try_database_lock

RETRAIN_LOCK_KEY = "musktracker:sentiment:retrain"
RETRAIN_DB_LOCK = "musktracker.sentiment.retrain"
BUSY = "another retraining is running on this database"


class RetrainBusyError(LockBusyError):
    """Another process (or thread) holds RETRAIN_DB_LOCK: this retraining did not run."""


def retraining_running(engine: Engine) -> bool:
    """Whether another process holds RETRAIN_DB_LOCK now: the API asks before queueing, so
    a POST while a CLI or `musktracker run` retraining runs is a 409, not a queued task that
    fails on the worker. A moment's answer: the job itself still takes the lock."""
    with try_database_lock(engine, RETRAIN_DB_LOCK) as taken:
        return not taken


def retrain_sentiment(settings: Settings) -> dict[str, Any]:
    """Train a challenger now and store the decision (the classic model when
    SENTIMENT_RETRAIN_CLASSIC is set or torch is missing); then free the queued key.
    Raises RetrainBusyError rather than waiting when another retraining holds the lock."""
    try:
        engine = _engine(settings)
        with try_database_lock(engine, RETRAIN_DB_LOCK) as taken:
            if not taken:
                raise RetrainBusyError(BUSY)
            return _train_and_decide(engine, settings)
    finally:
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
    """The scheduled, unforced check: train a challenger only when a trigger fires; skip
    when another retraining is running or queued (waiting would hold up the slot for up to
    an hour, and that retraining has just reset the `stale` trigger anyway)."""
    if not _ever_trained(settings):
        return {"skipped": "no sentiment model was ever trained (`musktracker sentiment train`)"}
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return {"skipped": "the sentiment extra is not installed"}
    engine = _engine(settings)
    with try_database_lock(engine, RETRAIN_DB_LOCK) as taken:
        if not taken:
            return {"skipped": BUSY}
        if not settings.redis_url:
            return _train_and_decide(engine, settings, force=False)
        client = redis.Redis.from_url(settings.redis_url)
        token = f"scheduled-{uuid.uuid4().hex}"
        try:
            if not client.set(RETRAIN_LOCK_KEY, token, nx=True, ex=settings.worker_task_time_limit):
                held = client.get(RETRAIN_LOCK_KEY)
                by = held.decode() if isinstance(held, bytes) else str(held)
                return {"skipped": f"a retraining is already queued or running (task {by})"}
            return _train_and_decide(engine, settings, force=False)
        finally:
            # Only our own key: it may have expired and been taken by a queued one.
            if client.get(RETRAIN_LOCK_KEY) == token.encode():
                client.delete(RETRAIN_LOCK_KEY)
            client.close()


def _engine(settings: Settings) -> Engine:
    """The migrated database, checked before a lock file is made beside it."""
    engine = get_engine(settings.database_url)
    require_schema(engine)
    return engine


def _ever_trained(settings: Settings) -> bool:
    """False when MLFLOW_TRACKING_URI is a local directory without a store yet (nothing
    was ever trained): the scheduled check must not create one or train the first model."""
    setting = settings.mlflow_tracking_uri
    if "://" in setting or setting.startswith("sqlite:"):
        return True
    return (Path(setting).expanduser() / "mlflow.db").is_file()


def _train_and_decide(engine: Engine, settings: Settings, force: bool = True) -> dict[str, Any]:
    """Measure, train if needed and store the decision; the caller holds RETRAIN_DB_LOCK."""
    from musktracker.sentiment import services
    from musktracker.sentiment.data import LabelledTexts
    from musktracker.sentiment.retrain import check_retrain
    from musktracker.sentiment.training import ModelChoice, TrainingResult, run_training
    from musktracker.sentiment.transformer import TrainConfig

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
