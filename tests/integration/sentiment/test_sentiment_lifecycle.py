"""Train, register, promote, serve with hot reload, score arriving posts and retrain, on a
real database (SQLite and PostgreSQL) and a real MLflow store."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import Account, LabelledSample, RetrainDecision, SentimentPrediction
from musktracker.db.session import session_scope
from musktracker.sentiment.cache import MemoryCache
from musktracker.sentiment.consumer import SentimentConsumer
from musktracker.sentiment.data import LabelledTexts, SentimentDataError, read_labelled
from musktracker.sentiment.inference import Predictor
from musktracker.sentiment.registry import list_versions, promote, sync_versions
from musktracker.sentiment.retrain import Thresholds, check_retrain, measure
from musktracker.sentiment.samples import add_samples, count_unused
from musktracker.sentiment.tracking import Tracker
from musktracker.sentiment.training import TrainingResult, run_training
from musktracker.sentiment.transformer import TrainConfig


@dataclass(frozen=True)
class Post:
    tweet_id: str
    account_id: int
    created_at: datetime
    text: str | None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _account(engine: Engine) -> int:
    with session_scope(engine) as session:
        account = Account(username="elonmusk")
        session.add(account)
        session.flush()
        return account.id


def _count(engine: Engine, model: type) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def data(small_train: Path, small_dev: Path) -> tuple[LabelledTexts, LabelledTexts]:
    return read_labelled(small_train), read_labelled(small_dev)


def test_train_promote_serve_and_store(
    engine: Engine, tracker: Tracker, data, tiny_base_model: Path
):
    train, dev = data
    classic = run_training("classic", train, dev, tracker)
    assert classic.version == 1 and classic.dev.macro_recall > 0.4
    tiny = run_training(
        "transformer",
        train.head(32),
        dev.head(20),
        tracker,
        TrainConfig(base_model=str(tiny_base_model), batch_size=16),
    )
    assert tiny.version == 2
    run = tracker.client.get_run(tiny.run_id)
    assert run.data.params["batch_size"] == "16"
    assert "dev_macro_recall" in run.data.metrics
    artifacts = {a.path for a in tracker.client.list_artifacts(tiny.run_id, "evaluation")}
    assert {"evaluation/dev_confusion.json", "evaluation/dev_confusion.png"} <= artifacts

    tracker.set_champion(1)
    rows = sync_versions(engine, tracker)
    assert [(r.version, r.status, r.kind) for r in rows] == [
        (1, "champion", "classic"),
        (2, "available", "transformer"),
    ]

    clock = Clock()
    predictor = Predictor(tracker, MemoryCache(100, 60), reload_seconds=30, clock=clock)
    first = predictor.predict(["what a wonderful launch", "what a wonderful launch"])
    assert [p.model_version for p in first] == ["1", "1"]
    assert sum(first[0].probabilities.values()) == pytest.approx(1.0)
    assert predictor.predict(["what a wonderful launch"])[0].cached

    promote(engine, tracker, 2)
    assert predictor.predict(["x"])[0].model_version == "1"  # not checked again yet
    clock.now = 31.0
    assert predictor.predict(["x"])[0].model_version == "2"  # picked up without restart
    assert [r.status for r in list_versions(engine, "test-sentiment")] == [
        "available",
        "champion",
    ]

    account_id = _account(engine)
    when = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    consumer = SentimentConsumer(engine, predictor)
    scored = consumer.on_post(Post("1860000000000000001", account_id, when, "I love it"))
    assert scored is not None and scored.model_version == "2"
    assert consumer.on_post(Post("1860000000000000002", account_id, when, None)) is None
    consumer.on_post(Post("1860000000000000001", account_id, when, "I love it"))  # again
    SentimentConsumer(engine, predictor, store_text=True).on_post(
        Post("1860000000000000003", account_id, when, "kept text")
    )
    with session_scope(engine) as session:
        stored = session.scalars(select(SentimentPrediction).order_by(SentimentPrediction.id))
        rows_ = [(r.tweet_id, r.text, r.model_version, r.posted_at, r.n_words) for r in stored]
    assert rows_ == [
        (1860000000000000001, None, "2", when, 3),
        (1860000000000000003, "kept text", "2", when, 2),
    ]


def test_retraining_fires_trains_and_promotes_only_a_better_challenger(
    engine: Engine, tracker: Tracker, data
):
    train, dev = data
    weak = run_training("classic", train.head(150), dev, tracker)
    tracker.set_champion(weak.version)
    limits = Thresholds(min_samples=3, max_hours=24, min_confidence=0.6, psi=0.2, window=100)

    samples = LabelledTexts(
        ["great stuff", "terrible stuff", "it is tuesday"], ["positive", "negative", "neutral"]
    )
    assert add_samples(engine, samples, "test").added == 3
    assert add_samples(engine, samples, "test").added == 0  # known texts are skipped

    def trainer(all_data: LabelledTexts) -> TrainingResult:
        assert all_data.texts[-3:] == samples.texts  # base file plus every sample
        return run_training("classic", all_data, dev, tracker)

    decision = check_retrain(engine, tracker, train, dev, limits, trainer)
    assert decision.fired == ["new_samples"]
    assert decision.challenger_version == 2 and decision.champion_version == 1
    assert decision.challenger_macro_recall is not None
    assert decision.champion_macro_recall is not None
    assert decision.challenger_macro_recall > decision.champion_macro_recall
    assert decision.promoted
    assert str(getattr(tracker.champion(), "version", None)) == "2"
    assert count_unused(engine) == 0

    # Nothing fires now; then a worse challenger is trained by force and not promoted.
    assert check_retrain(engine, tracker, train, dev, limits, trainer).fired == []

    def worse(all_data: LabelledTexts) -> TrainingResult:
        return run_training("classic", all_data.head(100), dev, tracker)

    rejected = check_retrain(engine, tracker, train, dev, limits, worse, force=True)
    assert rejected.fired == ["forced"] and not rejected.promoted
    assert str(getattr(tracker.champion(), "version", None)) == "2"
    with session_scope(engine) as session:
        stored = session.scalars(select(RetrainDecision).order_by(RetrainDecision.id)).all()
        summary = [(d.fired, d.promoted, d.challenger_version) for d in stored]
        values = json.loads(stored[0].triggers)["values"]
    assert summary == [("new_samples", True, 2), (None, False, None), ("forced", False, 3)]
    assert values["new_samples"] == 3
    assert _count(engine, LabelledSample) == 3


def test_a_rejected_challenger_spends_no_samples_and_resets_the_stale_clock(
    engine: Engine, tracker: Tracker, data
):
    train, dev = data
    champion = run_training("classic", train, dev, tracker)
    tracker.set_champion(champion.version)
    samples = LabelledTexts(["starship flew perfectly today"], ["positive"])
    add_samples(engine, samples, "test")
    time.sleep(2.5)  # the champion is now at least 2.5 s old

    def worse(all_data: LabelledTexts) -> TrainingResult:
        return run_training("classic", all_data.head(100), dev, tracker)

    limits = Thresholds(min_samples=1, max_hours=2.0 / 3600)
    rejected = check_retrain(engine, tracker, train, dev, limits, worse, force=True)
    assert not rejected.promoted and rejected.challenger_version == 2
    # The champion never learned from the sample: it is still counted as new.
    assert count_unused(engine) == 1
    values = measure(engine, tracker, limits)
    assert values.new_samples == 1
    # "stale" measures the time since the last training (the rejected challenger, a moment
    # ago), not the champion's age: the next check does not train again for staleness.
    assert values.hours_since_training is not None
    assert values.hours_since_training * 3600 < 2.0
    assert values.fired(limits) == ["new_samples"]


def test_drift_and_low_confidence_are_measured_from_stored_predictions(
    engine: Engine, tracker: Tracker, data
):
    train, dev = data
    result = run_training("classic", train, dev, tracker)
    tracker.set_champion(result.version)
    account_id = _account(engine)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    with session_scope(engine) as session:
        for i in range(60):
            session.add(
                SentimentPrediction(
                    account_id=account_id,
                    tweet_id=i,
                    label="negative",
                    p_negative=0.5,
                    p_neutral=0.3,
                    p_positive=0.2,
                    confidence=0.5,
                    n_words=45,
                    model_version=str(result.version),
                    created_at=now,
                )
            )
    values = measure(engine, tracker, Thresholds())
    assert values.recent_predictions == 60
    assert values.mean_confidence == pytest.approx(0.5)
    assert values.label_psi is not None and values.label_psi > 0.2
    assert values.length_psi is not None and values.length_psi > 0.2
    assert values.fired(Thresholds()) == ["low_confidence", "label_drift", "length_drift"]
    dry = check_retrain(engine, tracker, train, dev, Thresholds(), dry_run=True)
    assert dry.challenger_version is None and _count(engine, RetrainDecision) == 0


def test_a_version_whose_files_are_gone_is_not_promoted_and_never_stops_serving(
    engine: Engine, tracker: Tracker, data
):
    train, dev = data
    for _ in range(2):
        run_training("classic", train, dev, tracker)
    promote(engine, tracker, 1)
    predictor = Predictor(tracker, MemoryCache(100, 60), reload_seconds=0)
    assert predictor.predict(["what a launch"])[0].model_version == "1"
    shutil.rmtree(tracker.local_dir(tracker.version(2)))  # the store lost version 2's files

    with pytest.raises(SentimentDataError, match=r"^VERSION: version 2 of 'test-sentiment': "
                       r"its model files cannot be read .* the champion alias did not move$"):
        promote(engine, tracker, 2)
    champion = tracker.champion()
    assert champion is not None and int(champion.version) == 1
    assert [r.status for r in list_versions(engine, "test-sentiment")] == [
        "champion",
        "available",
    ]

    # Moved anyway (by MLflow's own client, say): the loaded model keeps serving, and a
    # process with nothing loaded yet gets the error naming the version, not a library's.
    tracker.set_champion(2)
    assert predictor.predict(["what a launch"])[0].model_version == "1"
    fresh = Predictor(tracker, MemoryCache(100, 60))
    with pytest.raises(SentimentDataError, match=r"^version 2 of 'test-sentiment': its model"):
        fresh.predict(["what a launch"])
