"""The prediction cache against the real Redis on localhost (database 15)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

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
    key = cache_key("1", "hello")
    cache.set_many({key: [0.1, 0.2, 0.7]})
    assert cache.get_many([key, cache_key("1", "other")]) == [[0.1, 0.2, 0.7], None]
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
