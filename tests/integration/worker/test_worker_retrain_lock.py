"""One sentiment retraining at a time across processes, with or without Redis: while another
process holds the retraining's database lock (a PostgreSQL advisory lock, a flock beside a
SQLite file), the scheduled check skips, the forced job and the API refuse, and
`sentiment check-retrain` stops with exit 1 or waits with --wait. The holder is a real
second process; the models are the classic one on a small slice of the real data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import Settings, get_settings
from musktracker.db.models import RetrainDecision
from musktracker.db.session import session_scope
from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.tracking import Tracker
from musktracker.sentiment.training import run_training
from musktracker.worker.jobs import job_named
from musktracker.worker.local import run_jobs
from musktracker.worker.locks import database_lock, try_database_lock
from musktracker.worker.sentiment_jobs import (
    BUSY,
    RETRAIN_DB_LOCK,
    RETRAIN_LOCK_KEY,
    RetrainBusyError,
    check_retrain_sentiment,
    retrain_sentiment,
)
from tests.integration.api.conftest import build_api
from tests.integration.sentiment.conftest import small_dev as small_dev  # shared fixtures
from tests.integration.sentiment.conftest import small_train as small_train
from tests.integration.worker.conftest import wait_for

MODEL_NAME = "musktracker-sentiment"  # the default, so the CLI needs no setting for it

HOLD = """
import sys
from musktracker.db.session import get_engine
from musktracker.worker.locks import database_lock
with database_lock(get_engine(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextmanager
def held_elsewhere(db_url: str, name: str = RETRAIN_DB_LOCK) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock `name` until the block ends (or it is killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url, name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()  # it releases the lock and exits
            proc.wait(timeout=30)


def _decisions(engine: Engine) -> list[tuple[str | None, int | None]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(RetrainDecision).order_by(RetrainDecision.id)).all()
        return [(d.fired, d.challenger_version) for d in rows]


def _champion(mlruns: Path, small_train: Path, small_dev: Path) -> Tracker:
    """A classic champion (version 1): what a first `sentiment train --classic` leaves."""
    tracker = Tracker(str(mlruns), MODEL_NAME)
    result = run_training("classic", read_labelled(small_train), read_labelled(small_dev),
                          tracker)
    tracker.set_champion(result.version)
    return tracker


TRY = """
import sys
from musktracker.db.session import get_engine
from musktracker.worker.locks import try_database_lock
with try_database_lock(get_engine(sys.argv[1]), sys.argv[2]) as taken:
    sys.exit(0 if taken else 3)
"""


def _taken_elsewhere(db_url: str, name: str) -> bool:
    """Whether another process, trying now, gets the lock `name`."""
    done = subprocess.run([sys.executable, "-c", TRY, db_url, name], timeout=60)
    assert done.returncode in (0, 3)
    return done.returncode == 0


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_try_lock_is_refused_while_another_process_holds_it(engine: Engine, db_url: str) -> None:
    with held_elsewhere(db_url, "test.lock") as holder:
        with try_database_lock(engine, "test.lock") as taken:
            assert not taken
        with try_database_lock(engine, "test.other") as other:
            assert other  # another name is another lock
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

        # It dies with its holder: a killed retraining leaves nothing to clear.
        def free() -> bool:
            with try_database_lock(engine, "test.lock") as taken:
                return taken

        wait_for(free, 30, "the killed holder's lock to be freed")
    # The other way round, and the waiting variant excludes the trying one.
    with database_lock(engine, "test.lock"):
        assert not _taken_elsewhere(db_url, "test.lock")
    assert _taken_elsewhere(db_url, "test.lock")


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_without_redis_a_second_retraining_is_skipped_or_refused(
    engine: Engine, db_url: str, small_train: Path, small_dev: Path, tmp_path: Path
) -> None:
    mlruns = tmp_path / "mlruns"
    _champion(mlruns, small_train, small_dev)
    sentiment: dict[str, Any] = {
        "mlflow_tracking_uri": str(mlruns),
        "sentiment_model_name": MODEL_NAME,
        "sentiment_train_file": str(small_train),
        "sentiment_dev_file": str(small_dev),
        "sentiment_retrain_classic": True,
    }
    settings = Settings(database_url=db_url, redis_url=None, **sentiment)
    with held_elsewhere(db_url):  # a `musktracker run`, the CLI or an API process retraining
        # The daily check skips rather than wait up to an hour, and says why.
        assert check_retrain_sentiment(settings) == {"skipped": BUSY}
        # The forced job (`run --job`, or the API without a broker) refuses.
        with pytest.raises(RetrainBusyError, match=BUSY):
            retrain_sentiment(settings)
        # `musktracker run --job` says so in one log line, not as a failure's traceback.
        with capture_logs() as logs:
            assert run_jobs(settings, [job_named("musktracker.sentiment.retrain")]) == {}
        assert [(e["event"], e["log_level"], e.get("reason")) for e in logs][-1] == (
            "job not run", "warning", BUSY
        )
        assert not any("exc_info" in e for e in logs)
        for api in build_api(engine, db_url, **sentiment):
            answer = api.post("/v1/sentiment/retrain", key="admin")
            assert answer.status_code == 409, answer.text
            assert "already running on this database" in answer.json()["error"]["message"]
        assert _decisions(engine) == []  # nothing measured, trained or stored
    # Once the other one has finished, the check runs (a fresh champion: nothing fires).
    quiet = check_retrain_sentiment(settings)
    assert quiet["fired"] == [] and quiet["challenger_version"] is None
    assert _decisions(engine) == [(None, None)]
    assert [int(v.version) for v in Tracker(str(mlruns), MODEL_NAME).versions()] == [1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_redis_the_lock_still_excludes_a_retraining_that_set_no_key(
    engine: Engine, db_url: str, broker: str, small_train: Path, small_dev: Path, tmp_path: Path
) -> None:
    """`sentiment check-retrain` sets no Redis key: the worker's check skips, and the API
    refuses at once rather than queue a task that would fail on the worker."""
    mlruns = tmp_path / "mlruns"
    _champion(mlruns, small_train, small_dev)
    sentiment: dict[str, Any] = {
        "mlflow_tracking_uri": str(mlruns),
        "sentiment_model_name": MODEL_NAME,
        "sentiment_retrain_classic": True,
    }
    settings = Settings(database_url=db_url, redis_url=broker, **sentiment)
    client = redis.Redis.from_url(broker)
    with held_elsewhere(db_url):
        assert check_retrain_sentiment(settings) == {"skipped": BUSY}
        assert client.get(RETRAIN_LOCK_KEY) is None  # no key taken meanwhile, none left
        for api in build_api(engine, db_url, redis_url=broker, **sentiment):
            answer = api.post("/v1/sentiment/retrain", key="admin")
            assert answer.status_code == 409, answer.text
            assert "already running on this database" in answer.json()["error"]["message"]
        assert client.get(RETRAIN_LOCK_KEY) is None  # the key it set is freed: none queued
    assert client.llen("celery") == 0
    assert _decisions(engine) == []
    client.close()


def _cli(db_url: str, mlruns: Path, small_train: Path, small_dev: Path, out: Path,
         *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "MLFLOW_TRACKING_URI": str(mlruns),
           "SENTIMENT_TRAIN_FILE": str(small_train), "SENTIMENT_DEV_FILE": str(small_dev)}
    env.pop("REDIS_URL", None)
    with out.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "musktracker.cli.main", "sentiment", "check-retrain", *args],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )


# The lock itself is tested on both databases above; the command's use of it is the same.
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_check_retrain_cli_stops_or_waits_while_another_process_retrains(
    engine: Engine, db_url: str, small_train: Path, small_dev: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner,
) -> None:
    mlruns = tmp_path / "mlruns"
    _champion(mlruns, small_train, small_dev)
    retrain = ("--force", "--classic", "--max-train", "200")
    stopped_log, waited_log = tmp_path / "stopped.out", tmp_path / "waited.out"
    with held_elsewhere(db_url):
        stopped = _cli(db_url, mlruns, small_train, small_dev, stopped_log, *retrain)
        assert stopped.wait(timeout=120) == 1
        assert f"error: {BUSY}" in stopped_log.read_text()
        assert "--wait" in stopped_log.read_text()
        # A dry run trains nothing, so it neither waits nor is refused.
        monkeypatch.setenv("DATABASE_URL", db_url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", str(mlruns))
        monkeypatch.delenv("REDIS_URL", raising=False)
        get_settings.cache_clear()
        try:
            dry = runner.invoke(app, ["sentiment", "check-retrain", "--dry-run"])
        finally:
            get_settings.cache_clear()
        assert dry.exit_code == 0, dry.output
        waited = _cli(db_url, mlruns, small_train, small_dev, waited_log, *retrain, "--wait")
        wait_for(lambda: "waiting for it to finish" in waited_log.read_text(), 120,
                 "check-retrain --wait to say it waits")
        assert waited.poll() is None  # still waiting, nothing trained
        assert _decisions(engine) == []
    assert waited.wait(timeout=180) == 0, waited_log.read_text()
    assert "challenger v2" in waited_log.read_text()
    assert _decisions(engine) == [("forced", 2)]
