"""POST /v1/sentiment/retrain with a broker queues the job; a real `musktracker worker` on
the real Redis trains the challenger and stores the decision the task returns."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.sentiment.tracking import Tracker
from tests.integration.api.conftest import build_api
from tests.integration.sentiment.conftest import assert_forced_decision_stored
from tests.integration.sentiment.conftest import small_dev as small_dev  # shared fixtures
from tests.integration.sentiment.conftest import small_train as small_train
from tests.integration.worker.conftest import client, running_worker

MODEL_NAME = "queued-retrain-test"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # the queue is under test
def test_queued_retrain_runs_on_a_worker_and_stores_its_decision(
    engine: Engine, db_url: str, broker: str, small_train: Path, small_dev: Path, tmp_path: Path
) -> None:
    mlruns = str(tmp_path / "mlruns")
    sentiment: dict[str, str | bool] = {
        "mlflow_tracking_uri": mlruns,
        "sentiment_model_name": MODEL_NAME,
        "sentiment_train_file": str(small_train),
        "sentiment_dev_file": str(small_dev),
        "sentiment_retrain_classic": True,
    }
    environment = {key.upper(): str(value).lower() if isinstance(value, bool) else str(value)
                   for key, value in sentiment.items()}
    with running_worker(db_url, broker, tmp_path / "worker.log", settings=environment):
        for api in build_api(engine, db_url, redis_url=broker, **sentiment):
            answer = api.post("/v1/sentiment/retrain", key="admin")
            assert answer.status_code == 202, answer.text
            body = answer.json()
            assert body["status"] == "queued" and body["decision_id"] is None
            # One retraining at a time: asking again while it is queued or running is a 409
            # naming it, not a second hour of training.
            again = api.post("/v1/sentiment/retrain", key="admin")
            assert again.status_code == 409, again.text
            assert body["id"] in again.json()["error"]["message"]
            outcome = client(db_url, broker).AsyncResult(body["id"]).get(timeout=300)
            # Once it has finished, a new one may be queued.
            after = api.post("/v1/sentiment/retrain", key="admin")
            assert after.status_code == 202, after.text
            second = client(db_url, broker).AsyncResult(after.json()["id"]).get(timeout=300)
    assert outcome["kind"] == "classic"
    assert outcome["challenger_version"] == 1
    assert_forced_decision_stored(engine, outcome["decision_id"], 1, outcome["promoted"])
    assert second["challenger_version"] == 2
    versions = Tracker(mlruns, MODEL_NAME).versions()
    assert [int(v.version) for v in versions] == [1, 2]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_scheduled_check_trains_only_when_a_trigger_fires_and_shares_the_lock(
    engine: Engine, db_url: str, broker: str, small_train: Path, small_dev: Path, tmp_path: Path
) -> None:
    import redis

    from musktracker.config import Settings
    from musktracker.db.models import RetrainDecision
    from musktracker.db.session import session_scope
    from musktracker.sentiment.data import LabelledTexts, read_labelled
    from musktracker.sentiment.samples import add_samples
    from musktracker.sentiment.training import run_training
    from musktracker.worker.jobs import SENTIMENT_CHECK_RETRAIN, Slot, job_named
    from musktracker.worker.sentiment_jobs import RETRAIN_LOCK_KEY

    job = job_named(SENTIMENT_CHECK_RETRAIN)
    assert Slot.DAILY in job.slots
    mlruns = tmp_path / "mlruns"
    settings = Settings(
        database_url=db_url,
        redis_url=broker,
        mlflow_tracking_uri=str(mlruns),
        sentiment_model_name="scheduled-check-test",
        sentiment_train_file=str(tmp_path / "not-read-unless-training.tsv"),
        sentiment_dev_file=str(small_dev),
        sentiment_retrain_classic=True,
        sentiment_retrain_min_samples=2,
        sentiment_retrain_max_hours=24,
    )
    # Nothing was ever trained: the scheduled check neither trains nor creates a store.
    assert "was ever trained" in job.run(settings)["skipped"]
    assert not mlruns.exists()

    tracker = Tracker(str(mlruns), "scheduled-check-test")
    champion = run_training("classic", read_labelled(small_train), read_labelled(small_dev),
                            tracker)
    tracker.set_champion(champion.version)
    # A fresh champion and no samples: nothing fires, the decision is stored, no file read.
    quiet = job.run(settings)
    assert quiet["fired"] == [] and quiet["challenger_version"] is None
    assert quiet["reason"] == "no trigger fired"

    add_samples(engine, LabelledTexts(["what a launch", "so sad today"],
                                      ["positive", "negative"]), "test")
    lock = redis.Redis.from_url(broker)
    lock.set(RETRAIN_LOCK_KEY, "api-task")  # an API-queued retraining holds the lock
    busy = job.run(settings)
    assert "already queued or running (task api-task)" in busy["skipped"]
    assert lock.get(RETRAIN_LOCK_KEY) == b"api-task"  # not taken over, not freed
    lock.delete(RETRAIN_LOCK_KEY)

    fired = job.run(settings.model_copy(update={"sentiment_train_file": str(small_train)}))
    assert fired["fired"] == ["new_samples"] and fired["challenger_version"] == 2
    assert lock.get(RETRAIN_LOCK_KEY) is None  # released when done
    with session_scope(engine) as session:
        stored = session.scalars(select(RetrainDecision).order_by(RetrainDecision.id)).all()
        assert [(d.fired, d.challenger_version) for d in stored] == [
            (None, None), ("new_samples", 2)
        ]
