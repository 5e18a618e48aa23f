"""A real app on a real, migrated database (SQLite file and PostgreSQL), with one key per
scope and the first 3,000 real @elonmusk posts imported."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.api.app import create_app
from musktracker.config import Settings
from musktracker.db.session import session_scope
from musktracker.ingest.importer import import_archive
from musktracker.security.apikeys import create_key, parse_scopes

REDIS_URL = os.environ.get("MUSKTRACKER_TEST_REDIS_URL", "redis://localhost:6379/15")


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    engine: Engine
    keys: dict[str, str]

    def get(self, path: str, key: str | None = "read", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self._headers(key, kwargs), **kwargs)

    def post(self, path: str, key: str | None = "write", **kwargs: Any) -> Any:
        return self.client.post(path, headers=self._headers(key, kwargs), **kwargs)

    def delete(self, path: str, key: str | None = "write", **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self._headers(key, kwargs), **kwargs)

    def _headers(self, key: str | None, kwargs: dict[str, Any]) -> dict[str, str]:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["X-API-Key"] = self.keys[key]
        return headers


def make_keys(engine: Engine) -> dict[str, str]:
    """One key per scope, named `<scope>-<random>` (several apps may share a database)."""
    keys = {}
    with session_scope(engine) as session:
        for scope in ("read", "write", "admin"):
            name = f"{scope}-{uuid.uuid4().hex[:8]}"
            keys[scope] = create_key(session, name, parse_scopes(scope))[1]
    return keys


def build_api(engine: Engine, db_url: str, **overrides: Any) -> Iterator[Api]:
    defaults: dict[str, Any] = {
        "redis_url": None,
        "api_cache_ttl_seconds": 0,
        "api_key_cache_seconds": 0,
    }
    settings = Settings(database_url=db_url, **{**defaults, **overrides})
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client, engine, make_keys(engine))


@pytest.fixture
def api(engine: Engine, db_url: str) -> Iterator[Api]:
    """The app with no cache, no Redis and default limits; no posts yet."""
    yield from build_api(engine, db_url)


@pytest.fixture
def api_with_posts(engine: Engine, db_url: str, posts_sample: Path) -> Iterator[Api]:
    """The app over @elonmusk with the first 3,000 real posts and their buckets."""
    with session_scope(engine) as session:
        add_account(session, "elonmusk", "44196397")
        import_archive(session, "elonmusk", posts_sample)
    yield from build_api(engine, db_url)
