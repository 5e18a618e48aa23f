from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
import structlog


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """CLI tests configure logging onto CliRunner's stderr, which closes; undo after each."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """Redis database 14 (this area's; tests prefix their keys too) of the test server;
    skipped when unreachable, except in CI, where that is a failure."""
    server = os.environ.get("MUSKTRACKER_TEST_REDIS_URL", "redis://localhost:6379")
    url = server.split("://")[0] + "://" + server.split("://")[1].split("/")[0] + "/14"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {url} (CI must run the Redis tests)")
        pytest.skip(f"Redis not reachable at {url}")
    yield client
    client.close()
