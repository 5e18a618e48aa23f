"""The scheduled jobs of ingestion, forecasting, training, regimes and the outbox, run
in-process (`musktracker run --job`) on a real database (SQLite and PostgreSQL) with real
@elonmusk posts, a real X API emulator and a real webhook receiver on loopback. Every job is
run twice to show a repeat writes no new rows."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.accounts import add_account
from musktracker.cli.main import app
from musktracker.config import Settings, get_settings
from musktracker.db.models import (
    BacktestResult,
    Forecast,
    PushOutbox,
    RawTweet,
    RegimeShift,
    TimeBucket,
)
from musktracker.db.session import session_scope
from musktracker.ingest.emulator import EmulatorOptions, XEmulator, load_account
from musktracker.ingest.importer import import_archive
from musktracker.signals.event import RawEvent
from musktracker.signals.factory import build_pipeline
from musktracker.utc import HOUR, parse_utc
from tests.integration.signals.signals_servers import Reply, http_server

CHEAP = "hour_of_day_mean"


@pytest.fixture
def job_env(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Cheap, small settings for the jobs; no X token unless a test sets one."""
    for key, value in {
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "WORKER_FORECAST_MODEL": CHEAP,
        "WORKER_FORECAST_HOURS": "6",
        "WORKER_TRAIN_MODELS": f"{CHEAP},seasonal_naive_daily",
        "WORKER_BACKTEST_WINDOWS": "2",
        "WORKER_TRAIN_DAYS": "7",
        "WORKER_TRAIN_PROCESSES": "1",
        "SIGNALS_ENRICH": "false",
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    get_settings.cache_clear()
    return cli_env


def _run(runner: CliRunner, job: str) -> str:
    get_settings.cache_clear()
    result = runner.invoke(app, ["run", "--job", job])
    assert result.exit_code == 0, result.output
    return result.output


def _count(engine: Engine, model: type, *where: Any) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _head(src: Path, dst: Path, rows: int) -> Path:
    with src.open() as inp, dst.open("w") as out:
        for i, line in enumerate(inp):
            if i > rows:
                break
            out.write(line)
    return dst


def test_forecasts_then_actuals(
    engine: Engine, job_env: str, runner: CliRunner, posts_sample: Path, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", _head(posts_sample, tmp_path / "early.csv", 2000))
    _run(runner, "musktracker.forecasts.hourly")
    _run(runner, "musktracker.forecasts.hourly")
    assert _count(engine, Forecast) == 6  # the repeat upserted the same six hours
    assert _count(engine, Forecast, Forecast.actual_count.is_not(None)) == 0

    # The later posts arrive; filling actuals sets every forecast hour's observed count.
    with session_scope(engine) as session:
        import_archive(session, "elonmusk", posts_sample)
    _run(runner, "musktracker.forecasts.fill_actuals")
    with session_scope(engine) as session:
        rows = session.execute(select(Forecast.target_time, Forecast.actual_count)).all()
    with posts_sample.open() as f:
        times = [parse_utc(r["created_at"]) for r in csv.DictReader(f)]
    expected = {
        t: sum(1 for at in times if t <= at < t + HOUR)
        for t, _ in rows
    }
    assert {t: n for t, n in rows} == expected
    assert sum(expected.values()) > 0


def test_regimes_and_training_are_idempotent(
    engine: Engine, job_env: str, runner: CliRunner, posts_sample: Path
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
    _run(runner, "musktracker.regimes.check")
    shifts = _count(engine, RegimeShift)
    assert shifts > 0
    _run(runner, "musktracker.regimes.check")
    assert _count(engine, RegimeShift) == shifts

    _run(runner, "musktracker.training.backtest")
    assert _count(engine, BacktestResult) == 2 * 2  # two models, two windows
    again = _run(runner, "musktracker.training.backtest")
    assert "already trained" in again
    assert _count(engine, BacktestResult) == 4
    # The hourly forecasts with model=best now use the backtest's winner.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKER_FORECAST_MODEL", "best")
        _run(runner, "musktracker.forecasts.hourly")
    assert _count(engine, Forecast) == 6


def test_ingestion_jobs_fetch_from_x_once(
    engine: Engine, job_env: str, runner: CliRunner, posts_sample: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
    assert "X_BEARER_TOKEN is not set" in _run(runner, "musktracker.ingest.incremental")
    assert _count(engine, RawTweet) == 0

    emulator = XEmulator([load_account(f"elonmusk={posts_sample}")], EmulatorOptions())
    emulator.start()
    try:
        monkeypatch.setenv("X_BEARER_TOKEN", "test-token")
        monkeypatch.setenv("X_API_BASE_URL", emulator.base_url)
        monkeypatch.setenv("X_API_BACKOFF_SECONDS", "0.05")
        _run(runner, "musktracker.ingest.incremental")
        stored = _count(engine, RawTweet)
        now = emulator.now
        with posts_sample.open() as f:
            week = [r for r in csv.DictReader(f)
                    if 0 <= (now - parse_utc(r["created_at"])).total_seconds() <= 7 * 86400]
        assert stored == len(week) > 0
        _run(runner, "musktracker.ingest.full")
        _run(runner, "musktracker.ingest.incremental")
        assert _count(engine, RawTweet) == stored
    finally:
        emulator.stop()
    _run(runner, "musktracker.features.refresh_all")
    assert _count(engine, TimeBucket) > 0


def test_outbox_dispatch_delivers_each_row_once(
    engine: Engine, job_env: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with http_server(lambda _request, _index: Reply(200, {"ok": True})) as (url, recorder):
        monkeypatch.setenv("WEBHOOK_URL", url)
        monkeypatch.setenv("WEBHOOK_MIN_SCORE", "0")
        get_settings.cache_clear()
        settings = Settings()
        event = RawEvent(source="partner", source_id="n1", created_at=datetime.now().astimezone(),
                         account="elonmusk", text="Buying $DOGE today", symbol="DOGE")
        result = build_pipeline(settings, engine).process([event])
        assert result.outbox_rows == 1
        _run(runner, "musktracker.outbox.dispatch")
        _run(runner, "musktracker.outbox.dispatch")
        assert len(recorder.requests) == 1
    assert _count(engine, PushOutbox, PushOutbox.status == "done") == 1
