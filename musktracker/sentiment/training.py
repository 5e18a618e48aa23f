"""One training run end to end: fit, evaluate on dev, log to MLflow, register a version.

Both model kinds go through here, so every run is tracked the same way: parameters, metrics
per epoch, the dev confusion matrix (JSON and PNG), the model directory as the `model`
artifact, and a new registered version tagged with its kind and dev macro recall.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import structlog

from musktracker.sentiment.artifact import SentimentModel, labels_of, with_reference
from musktracker.sentiment.checkpoint import Checkpointer, fingerprint
from musktracker.sentiment.data import LABELS, LabelledTexts, SentimentDataError
from musktracker.sentiment.drift import reference_of, word_count
from musktracker.sentiment.metrics import Evaluation, evaluate_labels, plot_confusion
from musktracker.sentiment.tracking import Tracker

# musktracker.logging.get_logger passes logger= twice to structlog (a foundation bug).
log = structlog.get_logger(__name__)

ModelChoice = Literal["transformer", "classic"]
StepCallback = Callable[[int, int, float], None]
LOSS_LOG_EVERY = 50


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often a transformer run saves its state (see `checkpoint.py`)."""

    folder: Path
    seconds: float


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced: the registered version, its run and its dev scores."""

    version: int
    run_id: str
    kind: ModelChoice
    dev: Evaluation
    seconds: float
    n_train: int


def _log_evaluation(tracker: Tracker, evaluation: Evaluation, folder: Path, name: str) -> None:
    (folder / f"{name}.json").write_text(json.dumps(evaluation.to_dict(), indent=2))
    plot_confusion(evaluation, folder / f"{name}.png", name.replace("_", " "))
    tracker.log_file(folder / f"{name}.json", "evaluation")
    tracker.log_file(folder / f"{name}.png", "evaluation")


def _fit(
    kind: ModelChoice,
    train: LabelledTexts,
    dev: LabelledTexts,
    tracker: Tracker,
    transformer_config: object | None,
    on_step: StepCallback | None,
    checkpointer: Checkpointer | None,
) -> SentimentModel:
    """Fit one model, logging per-epoch dev metrics (the classic model has one 'epoch')."""
    if kind == "classic":
        from musktracker.sentiment.classic import train_classic

        model = train_classic(train)
        scores = evaluate_labels(dev.labels, labels_of(model.predict_proba(dev.texts)))
        tracker.log_metrics(scores.as_metrics("dev_"), step=1)
        return model

    from musktracker.sentiment.transformer import TrainConfig, fine_tune

    if not isinstance(transformer_config, TrainConfig):
        raise TypeError("a transformer run needs a TrainConfig")

    def step_logged(step: int, total: int, loss: float) -> None:
        if step % LOSS_LOG_EVERY == 0 or step == total:
            tracker.log_metrics({"train_loss": loss}, step=step)
        if on_step is not None:
            on_step(step, total, loss)

    def epoch_logged(epoch: int, mean_loss: float, dev_probabilities: np.ndarray) -> None:
        scores = evaluate_labels(dev.labels, labels_of(dev_probabilities))
        tracker.log_metrics({"epoch_train_loss": mean_loss, **scores.as_metrics("dev_")}, epoch)
        log.info("sentiment.epoch", epoch=epoch, loss=round(mean_loss, 4), **scores.as_metrics())

    return fine_tune(
        train, transformer_config, dev, step_logged, epoch_logged, checkpoint=checkpointer
    )


def check_inputs(
    kind: ModelChoice,
    train: LabelledTexts,
    dev: LabelledTexts,
    transformer_config: object | None,
    base_model_from: str = "SENTIMENT_BASE_MODEL",
) -> None:
    """Everything that can be checked before an MLflow run starts, so bad input leaves no
    FAILED run: at least two labels to learn, a dev set, and (transformer) a base model that
    loads with the asked layers and pooling. `base_model_from` is the option or setting
    the base model came from, for its errors."""
    present = sorted(set(train.labels))
    if len(present) < 2:
        only = present[0] if present else "none"
        raise SentimentDataError(
            f"the training data has one label only ({only}, {len(train)} rows): a model needs "
            f"at least two of {', '.join(LABELS)}"
        )
    missing = [label for label in LABELS if label not in present]
    if kind == "classic" and missing:
        raise SentimentDataError(
            f"the classic model needs every label in the training data; no "
            f"{', '.join(missing)} rows among {len(train)}"
        )
    if len(dev) == 0:
        raise SentimentDataError("the dev data is empty")
    if kind == "transformer":
        from musktracker.sentiment.transformer import TrainConfig, check_base

        if not isinstance(transformer_config, TrainConfig):
            raise TypeError("a transformer run needs a TrainConfig")
        check_base(
            transformer_config.base_model,
            transformer_config.pooling,
            transformer_config.layers,
            base_model_from,
        )


def run_training(
    kind: ModelChoice,
    train: LabelledTexts,
    dev: LabelledTexts,
    tracker: Tracker,
    transformer_config: object | None = None,
    on_step: StepCallback | None = None,
    tags: dict[str, str] | None = None,
    checkpoint: Checkpointing | None = None,
) -> TrainingResult:
    """Train, evaluate, log and register one model; returns the new version. The inputs
    are checked first (`check_inputs`): a bad option or data set starts no run. With
    `checkpoint`, a transformer run saves its state as it goes and resumes a killed run of
    the same data and configuration."""
    check_inputs(kind, train, dev, transformer_config)
    checkpointer = (
        Checkpointer(checkpoint.folder, fingerprint(train, transformer_config), checkpoint.seconds)
        if checkpoint is not None and kind == "transformer"
        else None
    )
    params: dict[str, object] = {"kind": kind, "n_train": len(train), "n_dev": len(dev)}
    if transformer_config is not None:
        params.update(asdict(transformer_config))  # type: ignore[call-overload]
    run_name = f"{kind}-{len(train)}"
    resume = checkpointer.saved_run_id() if checkpointer is not None else None
    with tracker.run(run_name, params, resume) as run_id, tempfile.TemporaryDirectory() as tmp:
        if checkpointer is not None:
            checkpointer.run_id = run_id
        started = time.perf_counter()
        model = _fit(kind, train, dev, tracker, transformer_config, on_step, checkpointer)
        seconds = time.perf_counter() - started
        predicted = labels_of(model.predict_proba(dev.texts))
        dev_scores = evaluate_labels(dev.labels, predicted)
        model.meta = with_reference(
            model.meta, reference_of([word_count(t) for t in train.texts], predicted)
        )
        tracker.log_metrics({"train_seconds": seconds, **dev_scores.as_metrics("final_dev_")})
        folder = Path(tmp)
        _log_evaluation(tracker, dev_scores, folder, "dev_confusion")
        model_dir = folder / "model"
        model.save(model_dir)
        source = tracker.log_model_dir(model_dir)
        version = tracker.register(
            source,
            run_id,
            {
                "kind": kind,
                "base_model": model.meta.base_model,
                "dev_macro_recall": f"{dev_scores.macro_recall:.4f}",
                **(tags or {}),
            },
        )
    if checkpointer is not None:  # registered: nothing left to resume
        checkpointer.clear()
    log.info("sentiment.trained", version=version.version, kind=kind, seconds=round(seconds, 1))
    return TrainingResult(int(version.version), run_id, kind, dev_scores, seconds, len(train))
