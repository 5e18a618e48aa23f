"""The sentiment routes on the real app and a real database (SQLite and PostgreSQL), with a
classic model trained on a slice of the real SemEval file into a per-test MLflow store."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.db.models import LabelledSample
from musktracker.db.session import session_scope
from musktracker.sentiment import services as sentiment_services
from musktracker.sentiment.data import LABELS, read_labelled
from musktracker.sentiment.registry import sync_versions
from musktracker.sentiment.training import run_training
from tests.integration.api.conftest import Api, build_api
from tests.integration.sentiment.conftest import assert_forced_decision_stored
from tests.integration.sentiment.conftest import small_dev as small_dev  # shared fixtures
from tests.integration.sentiment.conftest import small_train as small_train

TEXTS = ["what a great launch, congratulations team", "this is a terrible failure", "ok"]


@pytest.fixture
def settings(db_url: str, tmp_path: Path, small_train: Path, small_dev: Path) -> Settings:
    return Settings(
        database_url=db_url,
        redis_url=None,
        mlflow_tracking_uri=str(tmp_path / "mlruns"),
        sentiment_model_name="api-test-sentiment",
        sentiment_train_file=str(small_train),
        sentiment_dev_file=str(small_dev),
        sentiment_retrain_classic=True,
    )


def _api(engine: Engine, settings: Settings, **overrides: Any) -> Iterator[Api]:
    return build_api(
        engine,
        settings.database_url,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        sentiment_model_name=settings.sentiment_model_name,
        sentiment_train_file=settings.sentiment_train_file,
        sentiment_dev_file=settings.sentiment_dev_file,
        sentiment_retrain_classic=True,
        **overrides,
    )


@pytest.fixture
def bare(engine: Engine, settings: Settings) -> Iterator[Api]:
    """The app with no sentiment model registered yet."""
    yield from _api(engine, settings)


@pytest.fixture
def trained(engine: Engine, settings: Settings) -> Iterator[Api]:
    """The app with a classic champion (version 1) mirrored into sentiment_models."""
    train, dev = sentiment_services.training_data(settings)
    tracker = sentiment_services.tracker(settings)
    result = run_training("classic", train, dev, tracker)
    tracker.set_champion(result.version)
    sync_versions(engine, tracker)
    yield from _api(engine, settings)


def test_sentiment_routes_need_a_key_and_the_scope(bare: Api) -> None:
    writes = ["/v1/sentiment/predict", "/v1/sentiment/samples", "/v1/sentiment/retrain"]
    for path in writes:
        assert bare.post(path, key=None, json={"text": "x"}).status_code == 401
        answer = bare.post(path, key="read", json={"text": "x"})
        assert answer.status_code == 403, path
        assert set(answer.json()) == {"error"}
    assert bare.get("/v1/sentiment/model", key=None).status_code == 401
    # A read key may look at the model (404: none trained yet).
    missing = bare.get("/v1/sentiment/model", key="read")
    assert missing.status_code == 404
    assert "no champion" in missing.json()["error"]["message"]


def test_readiness_waits_for_the_registered_champion_to_load(trained: Api) -> None:
    """The app starts loading the champion at startup; /readyz is 503 'loading' until the
    model is in memory, then ready with its version (and nothing is registered: ready)."""
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = trained.client.get("/readyz")
        seen.append((answer.status_code, answer.json()["checks"]["sentiment_model"]))
        if answer.status_code == 200:
            break
        time.sleep(0.05)
    assert seen[-1] == (200, "loaded: version 1"), seen
    assert all(state == (503, "loading") for state in seen[:-1]), seen
    services = trained.app.state.services
    assert services.sentiment_predictor().current().version == "1"  # already in memory


def _sentiment_check(api: Api, seconds: float = 60) -> tuple[int, str]:
    """/readyz's status code and sentiment check once it is no longer 'loading'."""
    deadline = time.monotonic() + seconds
    while True:
        answer = api.client.get("/readyz")
        state = answer.json()["checks"]["sentiment_model"]
        if state != "loading" or time.monotonic() > deadline:
            return answer.status_code, state
        time.sleep(0.05)


def test_readiness_reports_a_failed_load_then_recovers_and_follows_promotions(
    trained: Api, settings: Settings
) -> None:
    tracker = sentiment_services.tracker(settings)
    files = {
        path: path.read_bytes()
        for path in Path(tracker.local_dir(tracker.version(1))).rglob("*")
        if path.is_file()
    }
    for path in files:
        path.write_bytes(b"corrupt")
    for api in _api(trained.engine, settings, sentiment_reload_seconds=0.3):
        status, state = _sentiment_check(api)
        assert status == 503 and state.startswith("failed: "), state
        # Fixed (artifacts restored): the load is tried again and the process is ready.
        for path, content in files.items():
            path.write_bytes(content)
        time.sleep(0.3)
        assert _sentiment_check(api) == (200, "loaded: version 1")
        # A promotion picked up by the predictor shows in /readyz too.
        train, dev = sentiment_services.training_data(settings)
        tracker.set_champion(run_training("classic", train, dev, tracker).version)
        time.sleep(0.3)
        answer = api.post("/v1/sentiment/predict", json={"text": TEXTS[0]})
        assert answer.json()["predictions"][0]["model_version"] == "2"
        assert _sentiment_check(api) == (200, "loaded: version 2")


def test_predict_validation_names_the_field(bare: Api) -> None:
    cases = {
        "body": {},
        "body.text": {"text": ""},
        "body.texts[1]": {"texts": ["fine", 5]},
    }
    for field, body in cases.items():
        answer = bare.post("/v1/sentiment/predict", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["details"][0]["field"] == field
    both = bare.post("/v1/sentiment/predict", json={"text": "a", "texts": ["b"]})
    assert both.status_code == 422
    assert "exactly one" in both.json()["error"]["message"]
    too_many = bare.post("/v1/sentiment/predict", json={"texts": ["x"] * 257})
    assert too_many.status_code == 413
    error = too_many.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "body.texts" in error["message"] and "256" in error["message"]
    # Valid input but nothing trained: a clear 503, not a stack trace.
    unavailable = bare.post("/v1/sentiment/predict", json={"text": "hello"})
    assert unavailable.status_code == 503
    assert "champion" in unavailable.json()["error"]["message"]


def test_a_champion_whose_files_are_gone_is_a_503_naming_it(
    engine: Engine, settings: Settings
) -> None:
    train, dev = sentiment_services.training_data(settings)
    tracker = sentiment_services.tracker(settings)
    tracker.set_champion(run_training("classic", train, dev, tracker).version)
    sync_versions(engine, tracker)
    shutil.rmtree(tracker.local_dir(tracker.version(1)))
    for api in _api(engine, settings):
        answer = api.post("/v1/sentiment/predict", json={"text": TEXTS[0]})
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "model_unavailable"
        assert "version 1 of 'api-test-sentiment': its model files cannot be read" in (
            error["message"]
        )


def test_predict_one_and_a_batch_like_the_cli(trained: Api, settings: Settings) -> None:
    one = trained.post("/v1/sentiment/predict", json={"text": TEXTS[0]})
    assert one.status_code == 200, one.text
    [first] = one.json()["predictions"]
    assert first["text"] == TEXTS[0]
    assert first["label"] in LABELS
    assert set(first["probabilities"]) == set(LABELS)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert first["model_version"] == "1"

    batch = trained.post("/v1/sentiment/predict", json={"texts": TEXTS})
    assert batch.status_code == 200
    got = batch.json()["predictions"]
    expected = sentiment_services.predictor(settings).predict(TEXTS)
    assert [p["text"] for p in got] == TEXTS
    assert [p["label"] for p in got] == [p.label for p in expected]
    for answer, direct in zip(got, expected, strict=True):
        assert answer["probabilities"] == pytest.approx(direct.probabilities)

    full = trained.post("/v1/sentiment/predict", json={"texts": [f"text {i}" for i in range(256)]})
    assert full.status_code == 200
    assert len(full.json()["predictions"]) == 256


def test_model_route_shows_the_champion(trained: Api, settings: Settings) -> None:
    answer = trained.get("/v1/sentiment/model")
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == 1
    assert body["alias"] == "champion"
    assert body["kind"] == "classic"
    assert body["model_name"] == "api-test-sentiment"
    assert 0.3 < body["dev_macro_recall"] <= 1.0
    assert body["n_train"] == len(read_labelled(Path(settings.sentiment_train_file)))


def test_samples_are_stored_once(bare: Api, engine: Engine) -> None:
    samples = [
        {"text": "love this", "label": "positive"},
        {"text": "hate this", "label": "negative"},
        {"text": "it is tuesday", "label": "neutral"},
    ]
    added = bare.post("/v1/sentiment/samples?source=review", json=samples)
    assert added.status_code == 201, added.text
    assert added.json() == {"received": 3, "added": 3, "duplicates": 0}
    again = bare.post("/v1/sentiment/samples", json=samples[:2])
    assert again.json() == {"received": 2, "added": 0, "duplicates": 2}
    with session_scope(engine) as session:
        rows = session.execute(
            select(LabelledSample.text, LabelledSample.label, LabelledSample.source)
        ).all()
    assert sorted(rows) == sorted((s["text"], s["label"], "review") for s in samples)

    bad_label = bare.post("/v1/sentiment/samples", json=[{"text": "x", "label": "happy"}])
    assert bad_label.status_code == 422
    assert bad_label.json()["error"]["details"][0]["field"] == "body[0].label"
    assert bare.post("/v1/sentiment/samples", json=[]).status_code == 422
    blank = bare.post("/v1/sentiment/samples?source=%20", json=samples[:1])
    assert blank.status_code == 422
    assert blank.json()["error"]["details"][0]["field"] == "query.source"
    too_many = bare.post("/v1/sentiment/samples", json=[samples[0]] * 1001)
    assert too_many.status_code == 413
    assert "1000" in too_many.json()["error"]["message"]


def test_a_second_retrain_while_one_runs_here_is_409(trained: Api) -> None:
    start = threading.Barrier(2)

    def ask() -> int:
        start.wait()
        return int(trained.post("/v1/sentiment/retrain", key="admin").status_code)

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(lambda _: ask(), range(2)))
    assert codes == [201, 409]


def test_retrain_runs_here_without_a_broker_and_returns_the_decision(
    trained: Api, engine: Engine
) -> None:
    answer = trained.post("/v1/sentiment/retrain", key="admin")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "finished"
    assert body["id"] == str(body["decision_id"])
    assert body["challenger_version"] == 2
    assert_forced_decision_stored(engine, body["decision_id"], 2, body["promoted"])
