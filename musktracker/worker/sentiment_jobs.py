"""The on-demand sentiment retraining job (`POST /v1/sentiment/retrain`, `musktracker run
--job musktracker.sentiment.retrain`): the same forced check as `musktracker sentiment
check-retrain --force`, so a challenger is trained on the training file plus every labelled
sample and promoted only if it beats the champion. The decision is stored and its id
returned."""

from __future__ import annotations

from typing import Any

from musktracker.config import Settings
from musktracker.db.session import get_engine, require_schema


def retrain_sentiment(settings: Settings) -> dict[str, Any]:
    """Train a challenger now and store the decision (the classic model when
    SENTIMENT_RETRAIN_CLASSIC is set or torch is missing)."""
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
