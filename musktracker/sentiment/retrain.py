"""Self-triggering retraining: measure the triggers, train a challenger when one fires,
promote it only if it beats the champion on the dev set, and store the decision.

Triggers (thresholds from Settings):
- `new_samples`: labelled samples the serving model has not learned from >=
  SENTIMENT_RETRAIN_MIN_SAMPLES (1000). Samples are marked used only when a challenger
  trained on them is promoted: a rejected challenger does not spend them;
- `stale`: hours since the last training (the newest registered version, champion or
  not) >= SENTIMENT_RETRAIN_MAX_HOURS (24). A challenger that lost a moment ago counts as
  a training, so a losing challenger does not make every later check train again;
- `low_confidence`: mean top-class probability of the champion's most recent
  SENTIMENT_RETRAIN_WINDOW predictions < SENTIMENT_RETRAIN_MIN_CONFIDENCE (0.6);
- `label_drift` / `length_drift`: PSI of recent predicted labels / input word counts
  against the champion's training reference > SENTIMENT_RETRAIN_PSI_THRESHOLD (0.2).
Confidence and drift need at least MIN_RECENT recent predictions to say anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.db.models import RetrainDecision, SentimentPrediction
from musktracker.db.session import session_scope
from musktracker.sentiment.artifact import ModelMeta, labels_of, load_model
from musktracker.sentiment.data import LabelledTexts
from musktracker.sentiment.drift import label_shares, length_shares, psi
from musktracker.sentiment.metrics import evaluate_labels
from musktracker.sentiment.registry import sync_versions
from musktracker.sentiment.samples import all_samples, count_unused, mark_used
from musktracker.sentiment.tracking import Tracker
from musktracker.sentiment.training import TrainingResult
from musktracker.utc import utcnow

log = structlog.get_logger(__name__)
MIN_RECENT = 50


@dataclass(frozen=True)
class Thresholds:
    min_samples: int = 1000
    max_hours: float = 24.0
    min_confidence: float = 0.6
    psi: float = 0.2
    window: int = 500


@dataclass(frozen=True)
class TriggerValues:
    """Measured values; None where there was nothing to measure."""

    new_samples: int
    hours_since_training: float | None
    recent_predictions: int
    mean_confidence: float | None
    label_psi: float | None
    length_psi: float | None

    def fired(self, limits: Thresholds) -> list[str]:
        """Names of the triggers that fire under `limits`."""
        checks = {
            "new_samples": self.new_samples >= limits.min_samples,
            "stale": self.hours_since_training is None
            or self.hours_since_training >= limits.max_hours,
            "low_confidence": self.mean_confidence is not None
            and self.mean_confidence < limits.min_confidence,
            "label_drift": self.label_psi is not None and self.label_psi > limits.psi,
            "length_drift": self.length_psi is not None and self.length_psi > limits.psi,
        }
        return [name for name, hit in checks.items() if hit]


@dataclass(frozen=True)
class Decision:
    """The outcome of one check, as stored in `retrain_decisions`."""

    values: TriggerValues
    limits: Thresholds
    fired: list[str]
    champion_version: int | None = None
    challenger_version: int | None = None
    champion_macro_recall: float | None = None
    challenger_macro_recall: float | None = None
    promoted: bool = False
    reason: str = ""
    id: int | None = None
    """The `retrain_decisions` row, once stored."""


def hours_since_training(tracker: Tracker) -> float | None:
    """Hours since the newest registered version (champion or rejected challenger) was
    created; None when nothing is registered."""
    stamps = [v.creation_timestamp for v in tracker.versions() if v.creation_timestamp]
    if not stamps:
        return None
    newest = datetime.fromtimestamp(max(stamps) / 1000, UTC)
    return max(0.0, (utcnow() - newest).total_seconds() / 3600)


def measure(engine: Engine, tracker: Tracker, limits: Thresholds) -> TriggerValues:
    """Measure every trigger against the current champion."""
    champion = tracker.champion()
    hours = hours_since_training(tracker)
    reference = None
    recent: list[tuple[str, float, int]] = []
    if champion is not None:
        reference = ModelMeta.load(tracker.local_dir(champion)).reference
        with session_scope(engine) as session:
            recent = [
                (row.label, row.confidence, row.n_words)
                for row in session.execute(
                    select(
                        SentimentPrediction.label,
                        SentimentPrediction.confidence,
                        SentimentPrediction.n_words,
                    )
                    .where(SentimentPrediction.model_version == str(champion.version))
                    .order_by(SentimentPrediction.created_at.desc(), SentimentPrediction.id.desc())
                    .limit(limits.window)
                )
            ]
    enough = len(recent) >= MIN_RECENT
    labels = [r[0] for r in recent]
    lengths = [r[2] for r in recent]
    return TriggerValues(
        new_samples=count_unused(engine),
        hours_since_training=hours,
        recent_predictions=len(recent),
        mean_confidence=sum(r[1] for r in recent) / len(recent) if enough else None,
        label_psi=psi(reference.label_shares, label_shares(labels))
        if enough and reference
        else None,
        length_psi=psi(reference.length_shares, length_shares(lengths, reference.length_edges))
        if enough and reference
        else None,
    )


def _store(engine: Engine, decision: Decision) -> Decision:
    triggers = {"values": asdict(decision.values), "thresholds": asdict(decision.limits)}
    with session_scope(engine) as session:
        row = RetrainDecision(
            triggers=json.dumps(triggers),
            fired=",".join(decision.fired) or None,
            champion_version=decision.champion_version,
            challenger_version=decision.challenger_version,
            champion_macro_recall=decision.champion_macro_recall,
            challenger_macro_recall=decision.challenger_macro_recall,
            promoted=decision.promoted,
            reason=decision.reason,
        )
        session.add(row)
        session.flush()
        stored = replace(decision, id=row.id)
    log.info(
        "sentiment.retrain_decision",
        fired=decision.fired,
        promoted=decision.promoted,
        reason=decision.reason,
        decision_id=stored.id,
    )
    return stored


Data = LabelledTexts | Callable[[], LabelledTexts]
"""A data set, or a function reading it: files are read only when a challenger is trained."""


def _loaded(data: Data) -> LabelledTexts:
    return data if isinstance(data, LabelledTexts) else data()


def check_retrain(
    engine: Engine,
    tracker: Tracker,
    base_train: Data,
    dev: Data,
    limits: Thresholds,
    train: Callable[[LabelledTexts], TrainingResult] | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Decision:
    """Measure triggers; if one fires (or `force`), train a challenger on the training file
    plus every labelled sample, and promote it only if its dev macro recall is higher.

    The samples are marked used only when the challenger is promoted, so `new_samples`
    keeps counting what the serving model has not learned from. `base_train` and `dev` may
    be functions: they are then called only when a challenger is trained."""
    values = measure(engine, tracker, limits)
    fired = values.fired(limits) + (["forced"] if force else [])
    if not fired or dry_run:
        reason = "no trigger fired" if not fired else "dry run: would train a challenger"
        decision = Decision(values, limits, fired, reason=reason)
        if not dry_run:
            decision = _store(engine, decision)
        return decision
    if train is None:
        raise ValueError("a trigger fired but no training function was given")
    samples, sample_ids = all_samples(engine)
    data = _loaded(base_train).followed_by(samples)
    dev_set = _loaded(dev)
    result = train(data)
    champion = tracker.champion()
    champion_recall = None
    if champion is not None:
        model = load_model(tracker.local_dir(champion))
        champion_recall = evaluate_labels(
            dev_set.labels, labels_of(model.predict_proba(dev_set.texts))
        ).macro_recall
    promoted = champion_recall is None or result.dev.macro_recall > champion_recall
    if promoted:
        tracker.set_champion(result.version)
        mark_used(engine, sample_ids)
        reason = (
            "no champion yet"
            if champion_recall is None
            else f"challenger {result.dev.macro_recall:.4f} > champion {champion_recall:.4f}"
        )
    else:
        reason = f"challenger {result.dev.macro_recall:.4f} <= champion {champion_recall:.4f}"
    tracker.client.set_model_version_tag(
        tracker.model_name, str(result.version), "retrain_decision", reason
    )
    sync_versions(engine, tracker)
    decision = Decision(
        values,
        limits,
        fired,
        champion_version=int(champion.version) if champion is not None else None,
        challenger_version=result.version,
        champion_macro_recall=champion_recall,
        challenger_macro_recall=result.dev.macro_recall,
        promoted=promoted,
        reason=reason,
    )
    return _store(engine, decision)
