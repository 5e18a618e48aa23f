"""Real Celery workers as subprocesses (`musktracker worker`) on the real Redis (db 13 by
default, flushed per test; one database per pytest-xdist worker) and a real database with
real posts stored but not bucketed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.config import Settings
from musktracker.db.models import TimeBucket
from musktracker.db.session import session_scope
from musktracker.ingest.archive import parse_archive
from musktracker.ingest.store import store_posts
from musktracker.worker.celery_app import create_celery


def _broker_url() -> str:
    """db 13 (or MUSKTRACKER_TEST_CELERY_REDIS_URL), counting down by pytest-xdist worker
    (gw1 gets 12): every test empties its broker, so two workers must not share one."""
    base = os.environ.get("MUSKTRACKER_TEST_CELERY_REDIS_URL", "redis://localhost:6379/13")
    server, _, database = base.rpartition("/")
    number = int(database) - int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    if number < 0:
        raise RuntimeError(f"too many xdist workers for a broker database below {base}")
    return f"{server}/{number}"


BROKER_URL = _broker_url()


@pytest.fixture
def broker() -> str:
    """The test broker, emptied so no task of an earlier run is delivered."""
    try:
        redis.Redis.from_url(BROKER_URL).flushdb()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {BROKER_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {BROKER_URL}: {exc}")
    return BROKER_URL


def store_unbucketed(engine: Engine, csv: Path) -> int:
    """Store the posts of `csv` for @elonmusk without computing buckets; returns the count."""
    with session_scope(engine) as session:
        account = add_account(session, "elonmusk")
        records = parse_archive(csv).records
        store_posts(session, account.id, records, source="archive")
    return len(records)


def bucket_rows(engine: Engine) -> tuple[int, int]:
    """Stored bucket rows, and distinct (account, granularity, start) among them."""
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(TimeBucket)) or 0
        distinct = session.scalar(
            select(func.count()).select_from(
                select(TimeBucket.account_id, TimeBucket.granularity, TimeBucket.bucket_start)
                .distinct()
                .subquery()
            )
        )
    return int(rows), int(distinct or 0)


def client(db_url: str, broker_url: str) -> Celery:
    return create_celery(Settings(database_url=db_url, redis_url=broker_url))


@contextmanager
def running_worker(
    db_url: str, broker_url: str, log: Path, concurrency: int = 1,
    settings: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`musktracker worker` in its own process group (with extra environment `settings`);
    stopped (and its children) on exit."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": broker_url,
        "LOG_LEVEL": "INFO",
        # The hourly chain ends with stored forecasts: a cheap model, artifacts beside the log.
        "WORKER_FORECAST_MODEL": "hour_of_day_mean",
        "ARTIFACT_DIR": str(log.parent / "artifacts"),
        **(settings or {}),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "musktracker.cli.worker",
                "worker",
                f"--concurrency={concurrency}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: the pool stops with it
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def pool_children(pid: int) -> list[int]:
    """The prefork pool processes of a worker (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_for(predicate: object, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
