"""The weekly training SIGKILLed while its backtest runs must not leave its lock held.

The training holds a per-account database lock (a flock on a file beside a SQLite database,
a session advisory lock on PostgreSQL) and forks its backtest workers meanwhile, so they
inherit the lock's file or connection. Killed with their parent, the workers went on and
then blocked forever on its pipe, keeping the lock: every later weekly training waited for
it ("waiting for another process to finish") until someone found and killed them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.db.session import get_engine
from musktracker.worker.jobs import refresh_all_accounts
from musktracker.worker.locks import try_database_lock
from musktracker.worker.pipeline_jobs import train_all
from tests.integration.volume.test_volume_crash import _children, _gone, _workers_started
from tests.integration.worker.conftest import store_unbucketed


def _lock_free(engine: Engine, name: str) -> bool:
    with try_database_lock(engine, name) as taken:
        return taken


def test_sigkill_of_the_weekly_training_leaves_its_lock_free(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    refresh_all_accounts(Settings(database_url=db_url))
    settings = Settings(
        database_url=db_url, artifact_dir=tmp_path / "artifacts",
        worker_train_models="sarimax,hawkes,negative_binomial",
        worker_backtest_windows=80, worker_train_days=20, worker_train_processes=2,
    )
    lock = "musktracker.training.account-1"
    pid = os.fork()
    if pid == 0:  # the job, as `musktracker run` runs it, in a process of its own
        try:
            os.setpgid(0, 0)
            get_engine.cache_clear()  # no connection shared with the test
            train_all(settings)
        finally:
            os._exit(0)
    workers = _workers_started(pid)
    assert not _lock_free(engine, lock)  # the training holds it
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert _gone(workers, 5) == [], "backtest workers outlived their parent"
    deadline = time.monotonic() + 5
    while not _lock_free(engine, lock):
        assert time.monotonic() < deadline, "the killed training's lock is still held"
        time.sleep(0.1)
    assert _children(pid) == []
