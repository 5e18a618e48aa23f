"""The prediction cache against the real Redis on localhost (database 15)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from structlog.testing import capture_logs

from musktracker.sentiment.cache import KEY_PREFIX, RedisCache, cache_key
from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.inference import Predictor
from musktracker.sentiment.tracking import Tracker
from musktracker.sentiment.training import run_training

REDIS_URL = os.environ.get("MUSKTRACKER_TEST_REDIS_URL", "redis://localhost:6379/15")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    for key in client.scan_iter(KEY_PREFIX + "*"):
        client.delete(key)
    yield client
    for key in client.scan_iter(KEY_PREFIX + "*"):
        client.delete(key)
    client.close()


def test_round_trip_with_expiry(client: redis.Redis):
    cache = RedisCache(client, ttl_seconds=120)
    key = cache_key("m", "1", "run", "hello")
    cache.set_many({key: [0.1, 0.2, 0.7]})
    assert cache.get_many([key, cache_key("m", "1", "run", "other")]) == [[0.1, 0.2, 0.7], None]
    assert 0 < client.ttl(key) <= 120


def test_predictor_serves_repeats_from_redis_across_instances(
    client: redis.Redis, tracker: Tracker, small_train: Path, small_dev: Path
):
    result = run_training(
        "classic", read_labelled(small_train), read_labelled(small_dev).head(50), tracker
    )
    tracker.set_champion(result.version)
    first = Predictor(tracker, RedisCache.from_url(REDIS_URL, 60)).predict(["so happy today"])
    assert not first[0].cached
    # A second process (here: a second predictor) finds the entry in Redis.
    second = Predictor(tracker, RedisCache.from_url(REDIS_URL, 60)).predict(["so happy today"])
    assert second[0].cached
    assert second[0].probabilities == pytest.approx(first[0].probabilities)


def test_two_model_names_on_one_redis_do_not_share_entries(
    client: redis.Redis, tmp_path: Path, small_train: Path, small_dev: Path
):
    """Two model names in one MLflow store, both at version 1, on one Redis: each serves
    its own probabilities (the key used to be version + text only)."""
    train, dev = read_labelled(small_train), read_labelled(small_dev).head(50)
    mlruns = str(tmp_path / "mlruns")
    first_tracker = Tracker(mlruns, "first-sentiment")
    other_tracker = Tracker(mlruns, "other-sentiment")
    first_tracker.set_champion(run_training("classic", train, dev, first_tracker).version)
    other_tracker.set_champion(
        run_training("classic", train.sample(80, seed=3), dev, other_tracker).version
    )
    text = ["the launch was fine I guess"]
    first = Predictor(first_tracker, RedisCache.from_url(REDIS_URL, 60)).predict(text)[0]
    other = Predictor(other_tracker, RedisCache.from_url(REDIS_URL, 60)).predict(text)[0]
    assert first.model_version == other.model_version == "1"
    assert not other.cached
    assert other.probabilities != pytest.approx(first.probabilities)
    keys = {k.decode() for k in client.scan_iter(KEY_PREFIX + "*")}
    assert len(keys) == 2
    assert any(":first-sentiment:1:" in k for k in keys)
    assert any(":other-sentiment:1:" in k for k in keys)


def test_unreachable_redis_scores_without_the_cache_and_warns_once(
    tracker: Tracker, small_train: Path, small_dev: Path
):
    result = run_training(
        "classic", read_labelled(small_train), read_labelled(small_dev).head(50), tracker
    )
    tracker.set_champion(result.version)
    # Nothing listens on port 1: every Redis call fails with a ConnectionError.
    cache = RedisCache.from_url("redis://localhost:1/0", 60)
    predictor = Predictor(tracker, cache)
    with capture_logs() as logs:
        first = predictor.predict(["so happy today", "what a sad day"])
        second = predictor.predict(["so happy today"])
    assert [p.cached for p in first + second] == [False, False, False]
    assert second[0].probabilities == pytest.approx(first[0].probabilities)
    warnings = [e for e in logs if e["event"] == "sentiment.cache_unavailable"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert cache.unreachable
