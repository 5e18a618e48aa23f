"""The one place where SQLite and PostgreSQL differ: idempotent bulk inserts.

Both support `INSERT ... ON CONFLICT`, but through dialect-specific constructs; callers
ask for "insert these rows, ignore (or update) those whose key exists" and get the right one.
Rows go through SQLAlchemy's executemany path, which batches them into multi-row INSERTs
("insertmanyvalues") with one compiled statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from musktracker.db.models import Base


def _insert(session: Session, model: type[Base]) -> Any:
    table = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {name!r} is not supported")


def insert_ignoring_conflicts(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert rows; rows whose `key` already exists are skipped. Returns rows inserted."""
    if not rows:
        return 0
    table = cast(Table, model.__table__)
    # Count through RETURNING: a driver's executemany rowcount is not reliable (psycopg 3
    # reports 0 for batched multi-row inserts).
    stmt = (
        _insert(session, model)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*table.primary_key.columns)
    )
    return len(session.connection().execute(stmt, list(rows)).all())


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; where `key` exists, overwrite the `update` columns instead."""
    if not rows:
        return
    stmt = _insert(session, model)
    stmt = stmt.on_conflict_do_update(
        index_elements=key, set_={col: stmt.excluded[col] for col in update}
    )
    session.connection().execute(stmt, list(rows))
