"""Regression tests for the volume commands' review (train, forecast, regimes,
evaluate-forecasts): each failed before its fix. Real posts, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import ModelMetadata
from musktracker.db.session import session_scope

from .test_volume_cli import AS_OF, _counts, _run

TRAIN = ("train", "--train-days", "14", "--samples", "100", "--as-of", AS_OF, "--json",
         "--backtest-windows")


def _model_of(out: Any) -> str:
    return str(out["model"])


def test_best_model_comes_from_one_backtest_run(imported: Engine, runner: CliRunner) -> None:
    _run(runner, *TRAIN, "3", "--model", "hour_of_day_mean,seasonal_naive_daily")
    # a second run at the same as-of, of other models on other windows
    second = _run(runner, *TRAIN, "1", "--model", "seasonal_naive_daily,seasonal_naive_weekly")
    with session_scope(imported) as session:
        # the first run's hour_of_day_mean looks unbeatable: if rows of both runs were
        # compared, it would be "best"
        session.execute(
            update(ModelMetadata)
            .where(ModelMetadata.model_name == "hour_of_day_mean")
            .values(crps=1e-6)
        )
    out = _run(runner, "forecast", "--model", "best", "--as-of", AS_OF, "--samples", "50",
               "--json")
    assert _model_of(out) == next(iter(second["models"]))  # the newer run's best
    # a one-model run ranks nothing and does not replace the ranking
    _run(runner, *TRAIN, "1", "--model", "hour_of_day_mean")
    out = _run(runner, "forecast", "--model", "best", "--as-of", AS_OF, "--samples", "50",
               "--json")
    assert _model_of(out) == next(iter(second["models"]))


def test_ensemble_weights_come_from_one_run(imported: Engine, runner: CliRunner) -> None:
    _run(runner, *TRAIN, "3", "--model", "hour_of_day_mean,seasonal_naive_daily,ensemble")
    # a newer run without the ensemble must not hide the run that has its weights
    _run(runner, *TRAIN, "1", "--model", "seasonal_naive_daily,seasonal_naive_weekly")
    result = runner.invoke(app, ["forecast", "--model", "ensemble", "--as-of", AS_OF,
                                 "--samples", "50"])
    assert result.exit_code == 0, result.output
    assert "equally" not in result.output
    with session_scope(imported) as session:
        rows = session.scalars(
            select(ModelMetadata).where(ModelMetadata.model_name == "ensemble")
            .order_by(ModelMetadata.id)
        ).all()
        trained, used = (json.loads(r.hyperparameters or "{}")["model"] for r in rows)
    assert used["weights"] == trained["weights"]
    assert _counts(imported)[0] == 6  # 3 + 2 backtest rows, one forecast fit
