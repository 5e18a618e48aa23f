"""Alembic driven from code, with the migration scripts shipped inside the package so
`musktracker migrate` works after a plain `pip install`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from musktracker.db.session import get_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationError(ValueError):
    """A revision that cannot be reached, or a database this version does not know; the
    message names the revision (Alembic's own errors would surface as tracebacks)."""


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged scripts and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def missing_sqlite_file(database_url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist yet (connecting would create an
    empty one, so read-only commands check first), else None."""
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path


@lru_cache(maxsize=1)
def revisions() -> tuple[str, ...]:
    """Every revision shipped with this version, oldest first (read once: /readyz and every
    job check the schema)."""
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return tuple(s.revision for s in reversed(list(scripts.walk_revisions())))


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands relative to this version of MuskTracker."""

    current: str | None
    head: str
    known: bool
    """False when the database was migrated by a newer MuskTracker."""

    @property
    def advice(self) -> str:
        if not self.known:
            return f"migrated by a newer MuskTracker; this one knows revisions up to {self.head}"
        if self.current == self.head:
            return "up to date"
        return "run `musktracker migrate up`"


def schema_state(database_url: str) -> SchemaState:
    """The database's revision, the newest shipped one and whether this version knows it."""
    return state_of(current_revision(database_url))


def state_of(current: str | None) -> SchemaState:
    """Where a database at revision `current` stands relative to this version."""
    shipped = revisions()
    return SchemaState(current, shipped[-1], current is None or current in shipped)


def _migrate(step: Callable[[Config, str], None], database_url: str, revision: str) -> None:
    state = schema_state(database_url)
    if not state.known:
        raise MigrationError(
            f"the database is at revision {state.current!r}, unknown to this version: "
            f"{state.advice}; use that version"
        )
    try:
        step(alembic_config(database_url), revision)
    except CommandError as exc:
        raise MigrationError(
            f"--revision {revision!r}: {exc} (revisions: base, "
            f"{', '.join(revisions())}, head, or a step such as -1)"
        ) from None


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    _migrate(command.upgrade, database_url, revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    """Revert migrations down to `revision` (`-1` is one step, `base` is everything)."""
    _migrate(command.downgrade, database_url, revision)


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None before the first migration (or before its
    SQLite file exists, which this does not create)."""
    if missing_sqlite_file(database_url) is not None:
        return None
    with get_engine(database_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(database_url: str) -> str | None:
    """The newest revision shipped with this version of MuskTracker."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
