"""Shared fixtures: real databases (a fresh SQLite file, and a fresh schema in a real
PostgreSQL), the real @elonmusk data from ../shared/data, and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

# One place for the data paths, the PostgreSQL URL and the scratch schema: the benchmarks'.
from benchmarks.common import POSTGRES_URL, REPO, SHARED_DATA, postgres_schema
from benchmarks.common import POSTS as POSTS_CSV
from musktracker.config import get_settings
from musktracker.db import migrate
from musktracker.db.session import get_engine

__all__ = ["POSTGRES_URL", "POSTS_CSV", "REPO", "SHARED_DATA", "require_postgres"]


def _postgres_available() -> str | None:
    try:
        probe = create_engine(POSTGRES_URL)
        with probe.connect():
            pass
        probe.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not available"
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"


_PG_PROBLEM = _postgres_available()


def require_postgres() -> None:
    """Skip when PostgreSQL is missing, except in CI, where that is a failure."""
    if _PG_PROBLEM is None:
        return
    if os.environ.get("CI"):
        pytest.fail(_PG_PROBLEM + " (CI must run the PostgreSQL tests)")
    pytest.skip(_PG_PROBLEM)


@pytest.fixture(scope="session")
def posts_csv() -> Path:
    """The shared file of real @elonmusk post ids and times."""
    assert POSTS_CSV.is_file(), f"shared data missing: {POSTS_CSV}"
    return POSTS_CSV


@pytest.fixture(scope="session")
def posts_sample(tmp_path_factory: pytest.TempPathFactory, posts_csv: Path) -> Path:
    """The first 3,000 real posts (about three weeks of late 2022) as a small CSV."""
    path = tmp_path_factory.mktemp("data") / "posts_sample.csv"
    with posts_csv.open() as src, path.open("w") as dst:
        for i, line in enumerate(src):
            if i > 3000:
                break
            dst.write(line)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    require_postgres()
    with postgres_schema(POSTGRES_URL, prefix="t") as url:
        yield url
    get_engine.cache_clear()


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A migrated database."""
    migrate.upgrade(db_url)
    return get_engine(db_url)


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI's settings at the test database; yields its URL."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("TIMEZONE", raising=False)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
