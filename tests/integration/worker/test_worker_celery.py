"""A real `musktracker worker` process on the real Redis runs the jobs end to end; a
worker process killed mid-task has its task redone, and no row is written twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
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


def writing_backends(engine: Engine, application_name: str) -> int:
    """PostgreSQL backends of `application_name` inside a transaction that has written
    (a transaction id is assigned at the first write and released at commit or rollback)."""
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = :name AND backend_xid IS NOT NULL"
                ),
                {"name": application_name},
            )
            or 0
        )


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_task_of_a_killed_worker_process_is_redone_without_duplicates(
    engine: Engine, db_url: str, broker: str, posts_csv: Path, tmp_path: Path
) -> None:
    sample = tmp_path / "posts.csv"  # the first 15,000 real posts: a rebuild takes seconds
    with posts_csv.open() as src:
        sample.write_text("".join(line for _, line in zip(range(15_001), src, strict=False)))
    store_unbucketed(engine, sample)
    app = client(db_url, broker)
    # The worker's connections carry their own name, so the test can see, in PostgreSQL,
    # the moment the rebuild has written rows it has not committed: a fixed sleep after the
    # task started missed it when the rebuild finished early (CI, 1.09 s).
    name = f"mt-kill-{os.getpid()}-{tmp_path.name}"[:63]
    worker_url = f"{db_url}&application_name={name}"
    with running_worker(worker_url, broker, tmp_path / "worker.log") as worker:
        result = app.send_task("musktracker.features.rebuild_all")
        wait_for(lambda: writing_backends(engine, name) > 0, 60, "the rebuild to write", 0.01)
        victims = pool_children(worker.pid)
        assert victims, "the worker has no pool process"
        os.kill(victims[0], signal.SIGKILL)  # the process running the task dies mid-write
        outcome = result.get(timeout=180)
        assert outcome["accounts"] == 1
    log = (tmp_path / "worker.log").read_text()
    assert "signal 9 (SIGKILL)" in log, log[-3000:]
    assert "Retry in" not in log, "the redone task should not trip over a forked connection"
    rows, distinct = bucket_rows(engine)
    assert rows == distinct > 0
