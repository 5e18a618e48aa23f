"""SIGKILL `migrate up` and `migrate down` in the middle of their schema changes: the
database must stay at the revision it had, and running the same command again must finish.

SQLite's driver committed each CREATE, DROP and batch table copy on its own, so a kill
left tables without the revision that made them and every rerun failed ("table accounts
already exists"); PostgreSQL always ran the steps in one transaction."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from musktracker.db import migrate
from musktracker.db.models import Base
from musktracker.db.session import get_engine
from tests.conftest import REPO

# Runs a migration and SIGKILLs itself right after its Nth schema-changing statement.
CHILD = """
import os, signal, sys
from sqlalchemy import event
from musktracker.db import migrate
from musktracker.db.session import get_engine

url, direction, target, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = 0

@event.listens_for(get_engine(url), "after_cursor_execute")
def count(conn, cursor, statement, *args):
    global seen
    if statement.lstrip().upper().startswith(("CREATE", "DROP", "ALTER", "INSERT", "UPDATE")):
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

getattr(migrate, direction)(url, target)
print(seen)
"""


def _child(url: str, direction: str, target: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, url, direction, target, str(kill_at)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def _schema(url: str) -> tuple[str | None, set[str]]:
    engine = get_engine(url)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return migrate.current_revision(url), tables


def _matches_models(url: str) -> None:
    with get_engine(url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
def test_sigkill_in_the_middle_of_a_migration_leaves_the_old_revision(
    db_url: str, direction: str
) -> None:
    if direction == "downgrade":
        migrate.upgrade(db_url)
    target = "head" if direction == "upgrade" else "base"
    before = _schema(db_url)
    done = _child(db_url, direction, target, kill_at=10**9)  # counts the statements
    assert done.returncode == 0, done.stderr
    statements = int(done.stdout.split()[-1])
    assert statements > 20
    # put the database back where it was, then kill early, in the middle and near the end
    migrate.downgrade(db_url, "base") if direction == "upgrade" else migrate.upgrade(db_url)
    assert _schema(db_url) == before
    for kill_at in (3, statements // 2, statements - 2):
        killed = _child(db_url, direction, target, kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert _schema(db_url) == before, f"killed after statement {kill_at}"
    getattr(migrate, direction)(db_url, target)  # the rerun finishes
    if direction == "upgrade":
        assert migrate.current_revision(db_url) == migrate.head_revision(db_url)
        _matches_models(db_url)
    else:
        assert _schema(db_url) == (None, set())
