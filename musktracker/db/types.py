"""Column types that keep the UTC rule on every database.

SQLite has no time zone type: it stores the text of a naive datetime. `UTCDateTime` stores
naive UTC there and restores the zone on read, so Python code sees aware UTC on both SQLite
and PostgreSQL; a naive value passed in is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from musktracker.utc import ensure_utc

MAX_ROW_ID = 2**63 - 1
"""The largest id a BIGINT column holds: a larger one names no row (and would make the
database driver raise instead of finding nothing)."""


class UTCDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that accepts and returns only aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        aware = ensure_utc(value)
        if dialect.name == "sqlite":
            return aware.replace(tzinfo=None)
        return aware

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
