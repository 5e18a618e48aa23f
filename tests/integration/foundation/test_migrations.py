from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from musktracker.db import migrate
from musktracker.db.models import Account, Base
from musktracker.db.session import get_engine, session_scope


def test_up_down_up(db_url: str) -> None:
    engine = get_engine(db_url)
    migrate.upgrade(db_url)
    head = migrate.head_revision(db_url)
    assert migrate.current_revision(db_url) == head
    assert inspect(engine).has_table("raw_tweets")
    migrate.downgrade(db_url, "base")
    assert migrate.current_revision(db_url) is None
    assert not inspect(engine).has_table("raw_tweets")
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == head
    migrate.downgrade(db_url, "-1")
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == head


def test_migrations_match_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_times_come_back_as_aware_utc_and_naive_is_refused(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Account(username="someone"))
    with session_scope(engine) as session:
        created = session.scalar(select(Account.created_at))
        assert created is not None and created.tzinfo is UTC
    with pytest.raises(StatementError, match="has no time zone"), session_scope(engine) as session:
        session.add(Account(username="naive", created_at=datetime(2024, 1, 1)))
        session.flush()
