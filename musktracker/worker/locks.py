"""A named lock held in the database every process shares, so two processes (two `musktracker
run`, a `run --once weekly` beside a Celery worker, the API beside the CLI) never do the same
check-then-write work at once. It dies with its holder's connection or process, so a task
redelivered after its worker was killed never finds it left behind, as it would a Redis key
until that expired.

PostgreSQL: a session advisory lock, keyed by schema and name (advisory locks span the
database, but two deployments or test runs in separate schemas share no rows to guard).
SQLite (one host): an exclusive flock on a file beside the database; an in-memory database
has no other process to exclude. Both exclude another thread of the same process too (each
holder has its own connection or open file).

`database_lock` waits for the holder (work that must still be done, then checked again);
`try_database_lock` does not (work that is pointless to queue behind an hour-long holder).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from musktracker.logging import get_logger

log = get_logger(__name__)


class LockBusyError(RuntimeError):
    """Work that takes its lock without waiting did not run: another process is doing it.
    An expected outcome, not a failure to trace: the message says what is busy."""


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


@contextmanager
def database_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock `name` for the block, waiting (and saying so) while another holds it."""
    with _held(engine, name, wait=True):
        yield


@contextmanager
def try_database_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the lock `name` for the block if it is free; yields whether it was taken. When
    False the caller must not do the guarded work: another process is doing it."""
    with _held(engine, name, wait=False) as taken:
        yield taken


@contextmanager
def _held(engine: Engine, name: str, wait: bool) -> Iterator[bool]:
    """The one implementation: try first; if taken, wait (`wait`) or yield False."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.scalar(text("SELECT current_schema()"))
            key = {"key": _advisory_key(f"{schema}.{name}")}
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
                conn.commit()
                if not wait:
                    yield False
                    return
                log.info("waiting for another process to finish", lock=name)
                conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
            conn.commit()  # the lock is the session's: no transaction stays open meanwhile
            try:
                yield True
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True
        return
    path = Path(f"{database}.{name}.lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log.info("waiting for another process to finish", lock=name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
