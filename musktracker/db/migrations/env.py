"""Alembic environment: runs migrations on the URL set by musktracker.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from musktracker.db.models import Base
from musktracker.db.session import get_engine

config = context.config
target_metadata = Base.metadata


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """Switch SQLite's foreign-key enforcement, outside any transaction (inside one the
    pragma is silently ignored, so the result is read back). Batch migrations rebuild a
    table by copying it and dropping the old one; with enforcement on, dropping `accounts`
    would cascade-delete every row that refers to it. SQLite's own procedure for schema
    changes turns enforcement off and checks the keys afterwards."""
    connection.rollback()
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != int(on):
        raise RuntimeError("SQLite did not switch foreign-key enforcement")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    """Refuse a migration that left a row pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise RuntimeError(f"migration left broken foreign keys in {', '.join(tables)}")


def _sqlite_begin(connection: Connection) -> None:
    """Open a real SQLite transaction around every migration step. Python's sqlite3 driver
    only opens one before INSERT/UPDATE/DELETE, so each CREATE, DROP and batch table copy
    committed on its own: a `migrate up` or `down` killed half-way left tables without the
    revision that made them, and every rerun failed ("table accounts already exists",
    "table _alembic_tmp_accounts already exists"). With BEGIN the schema changes and the
    revision commit together or not at all (SQLite's DDL is transactional)."""
    connection.exec_driver_sql("BEGIN")


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by musktracker.db.migrate"
    engine = get_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
            _sqlite_begin(connection)
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                _check_sqlite_foreign_keys(connection)
            connection.commit()
        finally:
            if sqlite:  # the pooled connection goes back as every other one is
                _sqlite_foreign_keys(connection, on=True)


run_migrations_online()
