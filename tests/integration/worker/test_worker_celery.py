"""A real `musktracker worker` process on the real Redis runs the jobs end to end; a
worker process killed mid-task has its task redone, and no row is written twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import Forecast
from musktracker.db.session import session_scope
from musktracker.worker.jobs import Slot, jobs_in
from tests.integration.worker.conftest import (
    bucket_rows,
    client,
    pool_children,
    running_worker,
    store_unbucketed,
    wait_for,
)


def forecast_rows(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Forecast)) or 0)


def test_worker_runs_a_job_end_to_end_and_again_idempotently(
    engine: Engine, db_url: str, broker: str, posts_sample: Path, tmp_path: Path
) -> None:
    posts = store_unbucketed(engine, posts_sample)
    assert bucket_rows(engine) == (0, 0)
    app = client(db_url, broker)
    with running_worker(db_url, broker, tmp_path / "worker.log"):
        first = app.send_task("musktracker.features.refresh_all").get(timeout=120)
        assert first["accounts"] == 1 and first["features_written"] > 0
        rows, distinct = bucket_rows(engine)
        assert rows == distinct > 0
        # The hourly slot, as beat would queue it: a chain with the same job.
        queued = app.send_task("musktracker.run_slot", args=["hourly"]).get(timeout=60)
        assert queued == [job.name for job in jobs_in(Slot.HOURLY)]
        # The chain ends with the stored hourly forecasts (WORKER_FORECAST_HOURS of them).
        wait_for(lambda: forecast_rows(engine) == 24, 120, "the chain's hourly forecasts")
        again = app.send_task("musktracker.features.rebuild_all").get(timeout=120)
        assert again["accounts"] == 1
    assert bucket_rows(engine) == (rows, distinct)
    assert posts == 3000
    log = (tmp_path / "worker.log").read_text()
    assert "musktracker.run_slot" in log and "succeeded" in log


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_task_of_a_killed_worker_process_is_redone_without_duplicates(
    engine: Engine, db_url: str, broker: str, posts_csv: Path, tmp_path: Path
) -> None:
    sample = tmp_path / "posts.csv"  # the first 15,000 real posts: a rebuild takes seconds
    with posts_csv.open() as src:
        sample.write_text("".join(line for _, line in zip(range(15_001), src, strict=False)))
    store_unbucketed(engine, sample)
    app = client(db_url, broker)
    with running_worker(db_url, broker, tmp_path / "worker.log") as worker:
        result = app.send_task("musktracker.features.rebuild_all")
        wait_for(lambda: result.state == "STARTED", 60, "the task to start")
        victims = pool_children(worker.pid)
        assert victims, "the worker has no pool process"
        time.sleep(1.0)  # well inside the rebuild's transaction
        os.kill(victims[0], signal.SIGKILL)  # the process running the task dies mid-task
        outcome = result.get(timeout=180)
        assert outcome["accounts"] == 1
    log = (tmp_path / "worker.log").read_text()
    assert "signal 9 (SIGKILL)" in log, log[-3000:]
    assert "Retry in" not in log, "the redone task should not trip over a forked connection"
    rows, distinct = bucket_rows(engine)
    assert rows == distinct > 0
