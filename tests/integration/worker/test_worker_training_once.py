"""Two processes running the weekly training at once store one backtest run, not two: the
"already trained up to this data end" check and the training hold a database lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.config import Settings
from musktracker.db.models import BacktestResult
from musktracker.db.session import session_scope
from musktracker.worker.jobs import refresh_all_accounts
from tests.integration.worker.conftest import store_unbucketed


def test_two_concurrent_trainings_store_one_run(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    refresh_all_accounts(Settings(database_url=db_url))
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": "",
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "WORKER_BACKTEST_WINDOWS": "3",
        "WORKER_TRAIN_DAYS": "7",
    }
    command = [sys.executable, "-m", "musktracker.cli.worker", "run", "--job",
               "musktracker.training.backtest"]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum("skipped: already trained as of" in out for out in outputs) == 1, outputs
    with session_scope(engine) as session:
        stored = session.execute(
            select(BacktestResult.as_of, func.count(func.distinct(BacktestResult.run_id)))
            .group_by(BacktestResult.as_of)
        ).all()
    assert [runs_stored for _, runs_stored in stored] == [1], stored
