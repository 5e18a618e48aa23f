"""POST /v1/sentiment/retrain with a broker queues the job; a real `musktracker worker` on
the real Redis trains the challenger and stores the decision the task returns."""

from __future__ import annotations

from pathlib import Path

import pytest
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
