"""`musktracker beat` and `musktracker worker` together, on PostgreSQL and Redis, with no
task sent by hand: beat's minute slot delivers the outbox to a webhook receiver, and its
hourly slot (set to fire within the next two minutes) ingests from a real X API emulator,
buckets, fills actuals and stores forecasts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.config import Settings
from musktracker.db.models import Forecast, PushOutbox, RawTweet, TimeBucket
from musktracker.db.session import session_scope
from musktracker.ingest.emulator import EmulatorOptions, XEmulator, load_account
from musktracker.signals.event import RawEvent
from musktracker.signals.factory import build_pipeline
from tests.integration.signals.signals_servers import Reply, http_server
from tests.integration.worker.conftest import running_worker, wait_for

FORECAST_HOURS = 6


def _count(engine: Engine, model: type, *where: Any) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _soon_minute() -> int:
    """A minute of the hour at least 20 s away, so beat is up before it comes."""
    now = datetime.now(UTC)
    return (now + timedelta(minutes=1 if now.second < 40 else 2)).minute


@contextmanager
def running_beat(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (workdir / "beat.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "musktracker.cli.worker", "beat",
             f"--schedule-file={workdir / 'celerybeat-schedule'}"],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_beat_and_worker_ingest_bucket_forecast_and_dispatch_on_schedule(
    engine: Engine, db_url: str, broker: str, posts_sample: Path, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
    emulator = XEmulator([load_account(f"elonmusk={posts_sample}")], EmulatorOptions())
    emulator.start()
    try:
        with http_server(lambda _request, _index: Reply(200, {"ok": True})) as (url, received):
            env = {
                "DATABASE_URL": db_url,
                "REDIS_URL": broker,
                "X_BEARER_TOKEN": "test-token",
                "X_API_BASE_URL": emulator.base_url,
                "WEBHOOK_URL": url,
                "WEBHOOK_MIN_SCORE": "0",
                "SIGNALS_ENRICH": "false",
                "WORKER_HOURLY_MINUTE": str(_soon_minute()),
                "WORKER_FORECAST_HOURS": str(FORECAST_HOURS),
            }
            settings = Settings(database_url=db_url, webhook_url=url, webhook_min_score=0,
                                signals_enrich=False)
            event = RawEvent(source="partner", source_id="beat-1",
                             created_at=datetime.now(UTC), account="elonmusk",
                             text="Buying $DOGE today", symbol="DOGE")
            assert build_pipeline(settings, engine).process([event]).outbox_rows == 1
            with (running_worker(db_url, broker, tmp_path / "worker.log", concurrency=2,
                                 settings=env),
                  running_beat(env, tmp_path)):
                wait_for(lambda: len(received.requests) == 1, 150, "the minute slot's delivery")
                wait_for(lambda: _count(engine, Forecast) == FORECAST_HOURS, 200,
                         "the hourly slot's stored forecasts")
    finally:
        emulator.stop()
    assert _count(engine, RawTweet) > 0
    assert _count(engine, TimeBucket) > 0
    assert _count(engine, PushOutbox, PushOutbox.status == "done") == 1
    beat_log = (tmp_path / "beat.log").read_text()
    assert "Scheduler: Sending due task slot-minute" in beat_log, beat_log[-2000:]
    assert "Scheduler: Sending due task slot-hourly" in beat_log, beat_log[-2000:]
