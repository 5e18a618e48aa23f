"""`musktracker run`: the schedule in one process, no Redis, on a real database."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import Settings
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
