"""`musktracker run`: the schedule in one process, no Redis, on a real database."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.accounts import get_account
from musktracker.cli.main import app
from musktracker.config import Settings
from musktracker.db.session import session_scope
from musktracker.ingest.archive import parse_archive
from musktracker.ingest.store import store_posts
from musktracker.worker.jobs import JOBS
from musktracker.worker.local import run_forever
from tests.integration.worker.conftest import bucket_rows, store_unbucketed, wait_for


def test_run_once_executes_the_slot_jobs(
    engine: Engine, cli_env: str, runner: CliRunner, posts_sample: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    result = runner.invoke(app, ["run", "--once", "daily"])
    assert result.exit_code == 0, result.output
    assert "musktracker.features.rebuild_all: {'accounts': 1" in result.output
    rows, distinct = bucket_rows(engine)
    assert rows == distinct > 0
    again = runner.invoke(app, ["run", "--job", "musktracker.features.refresh_all"])
    assert again.exit_code == 0, again.output
    assert bucket_rows(engine) == (rows, distinct)
    unknown = runner.invoke(app, ["run", "--job", "nope"])
    assert unknown.exit_code == 1 and "not a known job" in unknown.output
    no_redis = runner.invoke(app, ["worker"])
    assert no_redis.exit_code == 1 and "needs REDIS_URL" in no_redis.output


def test_scheduler_loop_fires_the_hourly_slot(
    engine: Engine, db_url: str, posts_sample: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    # A clock half a second before the hourly minute, running at real speed.
    start, t0 = datetime(2026, 11, 22, 10, 4, 59, 500000, tzinfo=UTC), time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(Settings(database_url=db_url), stop, clock))
    loop.start()
    try:
        wait_for(lambda: bucket_rows(engine)[0] > 0, 60, "the hourly slot to build buckets")
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()


def test_a_slot_falling_due_during_a_long_slot_still_runs(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> None:
    """The loop used to look for the next slot from the time the previous slot's jobs
    ended, so an hourly slot (or every minute's outbox delivery) that fell due while a long
    job ran was skipped without a word. Here the 10:05 slot seems to take over an hour:
    once it has built buckets, the clock reads past 11:05 and more posts have arrived,
    which only the late 11:05 slot can bucket."""
    lines = posts_sample.read_text().splitlines(keepends=True)
    first, later = tmp_path / "first.csv", tmp_path / "later.csv"
    first.write_text("".join(lines[:2001]))
    later.write_text(lines[0] + "".join(lines[2001:]))
    store_unbucketed(engine, first)
    start, t0 = datetime(2026, 11, 22, 10, 4, 59, 500000, tzinfo=UTC), time.monotonic()
    built: list[int] = []

    def clock() -> datetime:
        if not built and bucket_rows(engine)[0] > 0:
            built.append(bucket_rows(engine)[0])
            with session_scope(engine) as session:
                account = get_account(session, "elonmusk")
                store_posts(session, account.id, parse_archive(later).records, source="archive")
        elapsed = timedelta(seconds=time.monotonic() - t0, hours=1 if built else 0)
        return start + elapsed

    stop = threading.Event()
    settings = Settings(database_url=db_url, worker_forecast_model="hour_of_day_mean")
    loop = threading.Thread(target=run_forever, args=(settings, stop, clock))
    loop.start()
    try:
        wait_for(lambda: bool(built) and bucket_rows(engine)[0] > built[0], 120,
                 "the late 11:05 slot to bucket the posts that arrived meanwhile")
    finally:
        stop.set()
        loop.join(timeout=60)
    assert not loop.is_alive()


def test_run_help_names_every_job_and_slot_setting(runner: CliRunner) -> None:
    """`--job` used to say only "this job", so its names were found by guessing wrong."""
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for job in JOBS:
        assert job.name in result.output, job.name
    for setting in ("WORKER_HOURLY_MINUTE", "WORKER_FULL_INGEST_HOUR", "WORKER_TRAINING_HOUR"):
        assert setting in result.output, setting
