"""WORKER_FORECAST_MODEL and WORKER_TRAIN_MODELS that name no model are refused, naming the
setting, when `run`, `worker` or `beat` starts and when a job runs, instead of the hourly
forecasts being skipped for every account and the weekly training failing on Sunday."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import Settings, SettingsError, get_settings
from musktracker.worker.pipeline_jobs import forecast_all, train_all
from tests.integration.worker.conftest import store_unbucketed


@pytest.mark.parametrize("command", [["run", "--once", "minute"], ["worker"], ["beat"]])
def test_commands_refuse_an_unknown_forecast_model(
    cli_env: str, engine: Engine, runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.setenv("WORKER_FORECAST_MODEL", "nosuch")
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    assert "WORKER_FORECAST_MODEL='nosuch' is not a model" in result.output, result.output


def test_run_refuses_unknown_training_models(
    cli_env: str, engine: Engine, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_TRAIN_MODELS", "hawkes,bogus")
    result = runner.invoke(app, ["run", "--job", "musktracker.outbox.dispatch"])
    assert result.exit_code == 1
    assert "WORKER_TRAIN_MODELS='hawkes,bogus'" in result.output, result.output
    monkeypatch.setenv("WORKER_TRAIN_MODELS", "hawkes, ensemble")
    get_settings.cache_clear()
    assert runner.invoke(app, ["run", "--job", "musktracker.outbox.dispatch"]).exit_code == 0


def test_jobs_fail_on_an_unknown_model_instead_of_skipping(
    engine: Engine, db_url: str, posts_sample: Path
) -> None:
    store_unbucketed(engine, posts_sample)
    with pytest.raises(SettingsError, match="WORKER_FORECAST_MODEL='nosuch'"):
        forecast_all(Settings(database_url=db_url, worker_forecast_model="nosuch"))
    with pytest.raises(SettingsError, match="WORKER_TRAIN_MODELS='bogus'"):
        train_all(Settings(database_url=db_url, worker_train_models="bogus"))


def test_run_refuses_once_and_job_together(cli_env: str, engine: Engine, runner: CliRunner) -> None:
    """Given both, `run` used to run only the job and ignore the slot without a word."""
    result = runner.invoke(app, ["run", "--once", "hourly", "--job", "musktracker.regimes.check"])
    assert result.exit_code == 1
    assert "--once and --job exclude each other" in result.output, result.output
