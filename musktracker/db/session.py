"""Engines and transactions. One engine per URL per process; SQLite gets the pragmas that
make it safe (foreign keys) and fast (WAL) for a single local user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class DatabaseNotReadyError(RuntimeError):
    """The database has no MuskTracker schema yet."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # Checkpoint (copy the WAL back, fsync) every ~40 MB of WAL instead of every 4 MB: a
    # batch of signals dirties ~1,000 random index pages, so the default checkpointed after
    # nearly every commit, rewriting the same pages each time (benchmarks/signals.py: wall
    # time 3-9% lower in each of 4 interleaved pairs). Durability is unchanged.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """A pooled engine for `url`, created once per process."""
    url = normalize_url(url)
    engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def require_tables(engine: Engine) -> None:
    """Fail with a clear message unless the database exists and has been migrated at all.

    A SQLite file that does not exist is named: connecting would create an empty one where
    a mistyped DATABASE_URL points.
    """
    from musktracker.db import migrate  # it imports this module

    missing = migrate.missing_sqlite_file(engine.url.render_as_string(hide_password=False))
    if missing is not None:
        raise DatabaseNotReadyError(
            f"database file {missing} does not exist; check DATABASE_URL, or run "
            "`musktracker migrate up` first"
        )
    if not inspect(engine).has_table("raw_tweets"):
        raise DatabaseNotReadyError(
            f"database {engine.url.render_as_string(hide_password=True)} has no MuskTracker "
            "tables; run `musktracker migrate up` first"
        )


def require_schema(engine: Engine) -> None:
    """`require_tables`, and the schema at this version's newest revision: on an older one
    commands failed deep inside ("no such table: api_keys")."""
    from musktracker.db import migrate

    require_tables(engine)
    where = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        state = migrate.state_of(MigrationContext.configure(conn).get_current_revision())
    if state.current != state.head:
        raise DatabaseNotReadyError(
            f"database {where} is at schema revision {state.current}: {state.advice}"
        )
