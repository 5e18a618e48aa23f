"""Shared fixtures: real databases (a fresh SQLite file, and a fresh schema in a real
PostgreSQL), the real @elonmusk data from ../shared/data, and a CLI runner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.config import get_settings
from musktracker.db import migrate
from musktracker.db.session import get_engine

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MUSKTRACKER_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTS_CSV = SHARED_DATA / "elonmusk" / "posts.csv"
POSTGRES_URL = os.environ.get(
    "MUSKTRACKER_TEST_POSTGRES_URL",
    "postgresql+psycopg://musktracker:musktracker@localhost:5432/musktracker_test",
)


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
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
