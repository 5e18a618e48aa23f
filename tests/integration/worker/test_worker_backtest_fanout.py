"""With a broker, the weekly training job fans its backtest windows out as a Celery group
over real worker processes; the chord callback stores a run identical to the in-process
backtest of the same windows, and launching it again stores nothing more."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import BacktestResult
from musktracker.db.session import session_scope
from musktracker.evaluation.backtest import BacktestPlan, run_backtest
from musktracker.evaluation.training import parse_models, prepare_training
from musktracker.features.refresh import refresh_account
from musktracker.forecasting.generate import default_as_of
from musktracker.utc import floor_hour
from tests.integration.worker.conftest import client, running_worker, store_unbucketed, wait_for

MODELS = "hour_of_day_mean,seasonal_naive_daily,negative_binomial,ensemble"
WINDOWS = 4
TRAIN_DAYS = 10.0


def stored_crps(engine: Engine) -> dict[tuple[str, str], float]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(BacktestResult.model_name, BacktestResult.window_start, BacktestResult.crps)
        ).all()
    return {(name, start.isoformat()): crps for name, start, crps in rows}


def test_weekly_training_fans_windows_out_and_stores_the_same_run_once(
    engine: Engine, db_url: str, broker: str, posts_sample: Path, tmp_path: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    with session_scope(engine) as session:
        refresh_account(session, 1)
    settings = {
        "WORKER_TRAIN_MODELS": MODELS,
        "WORKER_BACKTEST_WINDOWS": str(WINDOWS),
        "WORKER_TRAIN_DAYS": str(TRAIN_DAYS),
    }
    app = client(db_url, broker)
    log = tmp_path / "worker.log"
    with running_worker(db_url, broker, log, concurrency=2, settings=settings):
        launched = app.send_task("musktracker.training.backtest").get(timeout=120)
        assert launched["elonmusk"]["window_tasks"] == WINDOWS + 1  # and the final fit
        wait_for(lambda: len(stored_crps(engine)) == 4 * WINDOWS, 240, "the stored backtest")
        again = app.send_task("musktracker.training.backtest").get(timeout=120)
        assert str(again["elonmusk"]).startswith("skipped: already trained")
    text = log.read_text()
    assert text.count("Task musktracker.training.window[") >= 2 * (WINDOWS + 1), text[-3000:]
    assert "Task musktracker.training.collect[" in text

    with session_scope(engine) as session:
        as_of = floor_hour(default_as_of(session, 1))
        runs = session.scalar(select(func.count(func.distinct(BacktestResult.run_id))))
    assert runs == 1
    plan = BacktestPlan(as_of, WINDOWS, TRAIN_DAYS, 24, timedelta(days=1))
    prepared = prepare_training(engine, "elonmusk", plan, tmp_path / "local")
    local, _ = run_backtest(plan, prepared.posts, prepared.events, parse_models(MODELS),
                            workers=1)
    expected = {(o.model, o.origin.isoformat()): o.score.crps for o in local.outcomes}
    assert stored_crps(engine) == expected
    artifacts = list((tmp_path / "artifacts").rglob("*.pkl"))
    assert sorted(p.stem for p in artifacts) == sorted(MODELS.split(",")[:-1])
