from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, insert, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable
from typer.testing import CliRunner

from musktracker.cli.main import app
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


def _table_names(db_url: str) -> set[str]:
    return set(inspect(get_engine(db_url)).get_table_names())


@pytest.mark.parametrize(
    ("step", "revision", "message"),
    [
        (migrate.upgrade, "nonsense", "--revision 'nonsense': Can't locate revision"),
        (migrate.downgrade, "nonsense", "--revision 'nonsense': Can't locate revision"),
        (migrate.upgrade, "+1", "--revision '+1': Relative revision"),
    ],
)
def test_unknown_revision_is_one_clear_error_and_changes_nothing(
    db_url: str, step: Callable[[str, str], None], revision: str, message: str
) -> None:
    migrate.upgrade(db_url)
    tables = _table_names(db_url)
    with pytest.raises(migrate.MigrationError, match=re.escape(message)):
        step(db_url, revision)
    assert migrate.current_revision(db_url) == migrate.head_revision(db_url)
    assert _table_names(db_url) == tables


def test_database_of_a_newer_version_is_named_not_migrated(
    db_url: str, runner: CliRunner, cli_env: str
) -> None:
    migrate.upgrade(db_url)
    with session_scope(get_engine(db_url)) as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    state = migrate.schema_state(db_url)
    assert (state.current, state.known) == ("0099_future", False)
    for step in (migrate.upgrade, migrate.downgrade):
        with pytest.raises(migrate.MigrationError, match="'0099_future', unknown to this"):
            step(db_url, "head" if step is migrate.upgrade else "-1")
    assert migrate.current_revision(db_url) == "0099_future"
    current = runner.invoke(app, ["migrate", "current"])
    assert current.exit_code == 0 and "migrated by a newer MuskTracker" in current.output
    assert "migrate up" not in current.output
    assert "0099_future  <- database" in runner.invoke(app, ["migrate", "history"]).output
    up = runner.invoke(app, ["migrate", "up"])
    assert up.exit_code == 1 and "error: the database is at revision '0099_future'" in up.output


def test_current_revision_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    assert migrate.current_revision(f"sqlite:///{path}") is None
    assert not path.exists()


def test_no_id_is_handed_out_twice(engine: Engine) -> None:
    """Deleting the newest row does not give its id to the next one (SQLite did, and an id
    kept elsewhere then named another row)."""
    def add(session: Session, name: str) -> int:
        return session.scalars(insert(Account).values(username=name).returning(Account.id)).one()

    with session_scope(engine) as session:
        gone = add(session, "gone")
    with session_scope(engine) as session:
        session.execute(delete(Account))
        assert add(session, "next") == gone + 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_sqlite_table_with_an_integer_key_has_autoincrement(engine: Engine) -> None:
    """What the migrations built, table by table, is what the models declare; a new table
    created without AUTOINCREMENT fails here."""
    with engine.connect() as conn:
        built = {
            name for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            if "AUTOINCREMENT" in sql
        }
    declared = {
        table.name for table in Base.metadata.tables.values()
        if "AUTOINCREMENT" in str(CreateTable(table).compile(dialect=engine.dialect))
    }
    assert "accounts" in declared and "signal_checkpoints" not in declared
    assert built == declared
