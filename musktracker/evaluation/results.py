"""Backtest results in the database: one model_metadata row per model and run (with the
pooled metrics and the final fit's artifact), one backtest_results row per model and window,
and the queries that read them back (best model, ensemble weights)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from musktracker.db.models import BacktestResult as BacktestRow
from musktracker.db.models import ModelMetadata
from musktracker.utc import HOUR, utcnow

if TYPE_CHECKING:  # the backtest machinery (models, statsmodels) takes seconds to import
    from musktracker.evaluation.backtest import BacktestResult


def model_version(as_of: datetime) -> str:
    """A model version names the as-of time it was trained for."""
    return as_of.strftime("%Y%m%dT%H%MZ")


def backtest_key(
    account_id: int,
    result: BacktestResult,
    hyperparameters: dict[str, dict[str, Any]],
    artifacts: dict[str, Path],
    shifted_origins: set[datetime],
) -> str:
    """The run id of a backtest: a hash of everything its rows record but the clock (when
    it was trained, how long fits took, where the artifacts lie). Running the same `train`
    again on the same posts gives the same key, so a rerun after a kill that came after the
    commit (while drawing --report, say) is recognised instead of storing every window a
    second time; other windows, models, data or code that scores differently give a new
    key."""
    plan = result.plan
    content = {
        "account": account_id,
        "plan": [plan.as_of.isoformat(), plan.windows, plan.train_days, plan.horizon,
                 plan.step / HOUR, plan.n_samples, plan.seed],
        "params": hyperparameters,
        "final_fits": sorted(artifacts),
        "shifted": sorted(o.isoformat() for o in shifted_origins),
        "outcomes": sorted(
            (o.model, o.origin.isoformat(), o.score.as_dict()) for o in result.outcomes
        ),
        "failures": sorted((m, o.isoformat(), msg) for (m, o), msg in result.failures.items()),
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stored_run(session: Session, account_id: int, run_id: str) -> dict[str, int]:
    """The model_metadata id of every model of a stored run (empty when it is not stored)."""
    rows = session.execute(
        select(BacktestRow.model_name, BacktestRow.model_metadata_id)
        .where(BacktestRow.account_id == account_id, BacktestRow.run_id == run_id)
        .distinct()
    ).all()
    return {name: meta_id for name, meta_id in rows if meta_id is not None}


def store_backtest(
    session: Session,
    account_id: int,
    result: BacktestResult,
    hyperparameters: dict[str, dict[str, Any]],
    artifacts: dict[str, Path],
    final_seconds: dict[str, float],
    shifted_origins: set[datetime],
    run_id: str | None = None,
) -> dict[str, int]:
    """Write the run (as `run_id`, a new id when None); returns the model_metadata id of
    every model."""
    plan = result.plan
    run_id = run_id or uuid.uuid4().hex
    summary = result.summary()
    ids: dict[str, int] = {}
    for name, row in summary.items():
        artifact = artifacts.get(name)
        meta = ModelMetadata(
            account_id=account_id,
            model_name=name,
            model_version=model_version(plan.as_of),
            trained_at=utcnow(),
            training_start_date=plan.as_of - timedelta(days=plan.train_days),
            training_end_date=plan.as_of,
            hyperparameters=json.dumps(
                {
                    "model": hyperparameters.get(name, {}),
                    "backtest": {
                        "run_id": run_id,
                        "windows": plan.windows,
                        "train_days": plan.train_days,
                        "horizon_hours": plan.horizon,
                        "step_hours": plan.step / HOUR,
                    },
                },
                sort_keys=True,
            ),
            rmse=row["rmse"],
            mae=row["mae"],
            mape=row["mape"],
            crps=row["crps"],
            log_score=row["log_score"],
            coverage_95=row["coverage_95"],
            total_mae=row["total_mae"],
            total_crps=row["total_crps"],
            fit_seconds=final_seconds.get(name, row["fit_seconds"]),
            backtest_windows=int(row["windows"]),
            artifact_path=str(artifact) if artifact is not None else None,
        )
        session.add(meta)
        session.flush()
        ids[name] = meta.id
        session.add_all(
            BacktestRow(
                account_id=account_id,
                model_metadata_id=meta.id,
                run_id=run_id,
                model_name=name,
                as_of=plan.as_of,
                train_start=o.origin - timedelta(days=plan.train_days),
                window_start=o.origin,
                window_end=o.origin + plan.horizon * HOUR,
                total_actual=o.score.total_actual,
                fit_seconds=o.fit_seconds,
                after_regime_shift=o.origin in shifted_origins,
                **{
                    k: getattr(o.score, k)
                    for k in (
                        "rmse", "mae", "mape", "crps", "log_score", "coverage_95",
                        "total_mean", "total_mae", "total_mape", "total_crps",
                        "total_coverage_95",
                    )
                },
            )
            for o in result.of(name)
        )
    return ids


def latest_backtest(
    session: Session, account_id: int, as_of: datetime, containing: str | None = None
) -> list[ModelMetadata]:
    """Model rows of ONE backtest run: the newest run (latest as-of, then latest stored) whose
    training ended at or before `as_of`, with at least two models (a run of one model ranks
    nothing) and, when `containing` is given, a row for that model. Every row returned was
    scored on the same windows, so their CRPS can be compared; rows of other runs (other
    windows, horizons or training lengths) never mix in."""
    models = func.count(func.distinct(BacktestRow.model_name))
    runs = (
        select(BacktestRow.run_id)
        .where(BacktestRow.account_id == account_id, BacktestRow.as_of <= as_of)
        .group_by(BacktestRow.run_id)
        .having(models >= 2)
    )
    if containing is not None:
        runs = runs.having(
            func.sum(case((BacktestRow.model_name == containing, 1), else_=0)) > 0
        )
    run_id = session.scalar(
        runs.order_by(
            func.max(BacktestRow.as_of).desc(), func.max(BacktestRow.created_at).desc(),
            BacktestRow.run_id.desc(),
        ).limit(1)
    )
    if run_id is None:
        return []
    ids = select(BacktestRow.model_metadata_id).where(BacktestRow.run_id == run_id).distinct()
    return list(
        session.scalars(
            select(ModelMetadata)
            .where(ModelMetadata.id.in_(ids), ModelMetadata.crps.is_not(None))
            .order_by(ModelMetadata.model_name)
        ).all()
    )


def past_window_crps(
    session: Session, account_id: int, members: list[str], as_of: datetime, limit: int = 14
) -> dict[str, list[float]]:
    """Each member's CRPS on the newest stored backtest windows that ended by `as_of`."""
    past: dict[str, list[float]] = {}
    for name in members:
        rows = session.scalars(
            select(BacktestRow.crps)
            .where(
                BacktestRow.account_id == account_id,
                BacktestRow.model_name == name,
                BacktestRow.window_end <= as_of,
            )
            .order_by(BacktestRow.window_end.desc(), BacktestRow.created_at.desc())
            .limit(limit)
        ).all()
        past[name] = list(rows)
    return past
