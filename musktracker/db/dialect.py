"""The one place where SQLite and PostgreSQL differ: idempotent bulk inserts.

Callers ask for "insert these rows, skip (or update) those whose key exists" and get the
fast path of each database:
- SQLite: one `INSERT ... ON CONFLICT` run by the driver's executemany over tuples whose
  values went through each column's bind processor once per column, not SQLAlchemy's
  per-row parameter bookkeeping (which took a third of the signals pipeline's storage CPU).
- PostgreSQL: `COPY` into a temporary table, then one `INSERT ... SELECT ... ON CONFLICT`.
  psycopg would otherwise re-parse every huge multi-row statement on the client (measured:
  17 s for 75,571 posts against under 2 s with COPY; see benchmarks/import_pipeline.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Select, Table
from sqlalchemy.orm import Session

from musktracker.db.models import Base
from musktracker.db.types import UTCDateTime


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


Processor = Callable[[Any], Any] | None


def _bind_processor(column_type: Any, dialect: Any) -> Processor:
    """The processor SQLAlchemy itself binds values of this type with on `dialect`."""
    processor: Processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _copy_processor(column_type: Any, dialect: Any) -> Processor:
    """How a value must be written for COPY: JSON as text, others as their column type says."""
    if isinstance(column_type, JSON):
        return lambda v: None if v is None else json.dumps(v)
    return _bind_processor(column_type, dialect)


def _prepared(
    table: Table,
    rows: Sequence[dict[str, Any]],
    dialect: Any,
    processor: Callable[[Any, Any], Processor],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and one tuple per row, each value through its column's `processor`.

    What SQLAlchemy's executemany does, without its per-row parameter bookkeeping (a third
    of the signals pipeline's storage CPU): columns the rows leave out get their Python-side
    default, per row; work goes column by column, and a time column processes each distinct
    value once (a batch mostly shares a few times; equal instants store the same value).
    """
    names = list(rows[0])
    values: list[list[Any]] = [[row[name] for row in rows] for name in names]
    for column in table.c:
        default = cast(Any, column.default)
        if column.name not in names and default is not None:
            names.append(column.name)
            if default.is_callable:
                values.append([default.arg(None) for _ in rows])
            elif default.is_scalar:
                values.append([default.arg] * len(rows))
            else:
                raise NotImplementedError(f"{table.name}.{column.name}: SQL default in bulk insert")
    for i, name in enumerate(names):
        column_type = table.c[name].type
        process = processor(column_type, dialect)
        if process is None:
            continue
        if isinstance(column_type, UTCDateTime):
            done = {value: process(value) for value in set(values[i])}
            values[i] = [done[value] for value in values[i]]
        else:
            values[i] = [process(value) for value in values[i]]
    return names, list(zip(*values, strict=True))


def _copy_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]], tail: str) -> int:
    """PostgreSQL: COPY rows into a scratch table, then INSERT ... SELECT ... `tail`."""
    names, tuples = _prepared(table, rows, session.get_bind().dialect, _copy_processor)
    scratch = f"_load_{uuid.uuid4().hex[:12]}"
    col_list = ", ".join(f'"{c}"' for c in names)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(
            f'CREATE TEMP TABLE "{scratch}" (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
        )
        with cur.copy(f'COPY "{scratch}" ({col_list}) FROM STDIN') as copy:
            for row in tuples:
                copy.write_row(row)
        cur.execute(
            f'INSERT INTO "{table.name}" ({col_list}) SELECT {col_list} FROM "{scratch}" {tail}'
        )
        inserted: int = cur.rowcount
        cur.execute(f'DROP TABLE "{scratch}"')
    return max(inserted, 0)


def _sqlite_insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], tail: str
) -> int:
    """SQLite: one INSERT ... `tail` run by the driver's executemany; returns rows changed."""
    names, tuples = _prepared(table, rows, session.get_bind().dialect, _bind_processor)
    col_list = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" * len(names))
    sql = f'INSERT INTO "{table.name}" ({col_list}) VALUES ({marks}) {tail}'
    result = session.connection().exec_driver_sql(sql, tuples)
    # The driver sums the rows each statement changed: a skipped conflict adds nothing.
    return max(int(result.rowcount), 0)


def _conflict_tail(key: Sequence[str], update: Sequence[str] = ()) -> str:
    conflict = ", ".join(f'"{k}"' for k in key)
    if not update:
        return f"ON CONFLICT ({conflict}) DO NOTHING"
    assignments = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update)
    return f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"


def _insert(session: Session, model: type[Base], rows: Sequence[dict[str, Any]], tail: str) -> int:
    """Each database's fast bulk INSERT ... `tail`; returns rows inserted (or updated)."""
    if not rows:
        return 0
    table = _table(model)
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return _copy_insert(session, table, rows, tail)
    if name == "sqlite":
        return _sqlite_insert(session, table, rows, tail)
    raise NotImplementedError(f"database dialect {name!r} is not supported")


def insert_ignoring_conflicts(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert rows; rows whose `key` already exists are skipped. Returns rows inserted."""
    return _insert(session, model, rows, _conflict_tail(key))


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; where `key` exists, overwrite the `update` columns instead."""
    _insert(session, model, rows, _conflict_tail(key, update))


def bulk_insert(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Plain bulk insert of new rows (no conflicts expected), fast on both databases."""
    _insert(session, model, rows, "")


def skip_locked(session: Session, stmt: Select[Any]) -> Select[Any]:
    """Lock the selected rows, skipping rows another transaction holds (PostgreSQL).

    This is how several outbox dispatchers share the work without sending a row twice.
    SQLite has no row locks (a writer locks the whole file), so the statement is used as is
    and only one dispatcher may run against a SQLite database.
    """
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt
