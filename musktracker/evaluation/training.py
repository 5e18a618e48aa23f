"""`train` as a function: load an account's posts as of a moment, run the rolling backtest of
the chosen models, mark windows after regime shifts, store everything, return the report."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from musktracker.accounts import get_account
from musktracker.db.session import session_scope
from musktracker.evaluation.backtest import ENSEMBLE, BacktestPlan, BacktestResult, run_backtest
from musktracker.evaluation.ranking import common_windows, comparable_crps
from musktracker.evaluation.regimes import RegimeShift, cusum_shifts
from musktracker.evaluation.results import (
    backtest_key,
    model_version,
    store_backtest,
    stored_run,
)
from musktracker.features.build import EventWindow
from musktracker.features.count_rule import ALL_KINDS, CountRule
from musktracker.forecasting.errors import ForecastError
from musktracker.models.ensemble import DEFAULT_MEMBERS
from musktracker.models.history import load_history
from musktracker.models.registry import BASELINES, create_model, model_names
from musktracker.utc import HOUR

REGIME_LOOKBACK = timedelta(days=90)  # history before the first window given to the detector


@dataclass
class TrainReport:
    account: str
    result: BacktestResult
    shifts: list[RegimeShift]
    shifted_origins: set[datetime]
    metadata_ids: dict[str, int]
    already_stored: bool = False
    """The same run (same windows, models, data and scores) was stored before: a rerun of a
    `train` stopped after its commit adds nothing."""

    def ranking(self) -> list[tuple[str, dict[str, float]]]:
        """Models by CRPS, best first: on the windows every model was scored on, when some
        could only be fitted on the later ones (`evaluation.ranking`)."""
        order = self.ranking_crps()
        return sorted(self.result.summary().items(), key=lambda item: (order[item[0]], item[0]))

    def ranking_crps(self) -> dict[str, float]:
        """The CRPS each model is ranked by (its pooled CRPS when all share the windows)."""
        summary = self.result.summary()
        return comparable_crps(self._per_window(), {m: r["crps"] for m, r in summary.items()})

    def compared_on(self) -> list[datetime]:
        """The windows the ranking compares on when the models' windows differ (else [])."""
        return common_windows(self._per_window())

    def _per_window(self) -> dict[str, dict[datetime, float]]:
        return {m: {o.origin: o.score.crps for o in self.result.of(m)}
                for m in self.result.models()}

    def best_baseline(self) -> str | None:
        ranked = [name for name, _ in self.ranking() if name in BASELINES]
        return ranked[0] if ranked else None

    def as_json(self) -> dict[str, Any]:
        plan = self.result.plan
        keys = (
            "rmse", "mae", "mape", "crps", "log_score", "coverage_95", "total_mae",
            "total_crps", "fit_seconds",
        )
        windows = []
        for origin in plan.origins():
            scores = {
                o.model: {"crps": o.score.crps, "mae": o.score.mae,
                          "total_actual": o.score.total_actual, "total_mean": o.score.total_mean}
                for o in self.result.outcomes
                if o.origin == origin
            }
            windows.append(
                {
                    "train_start": (origin - timedelta(days=plan.train_days)).isoformat(),
                    "start": origin.isoformat(),
                    "end": (origin + plan.horizon * HOUR).isoformat(),
                    "after_regime_shift": origin in self.shifted_origins,
                    "models": scores,
                }
            )
        return {
            "account": self.account,
            "as_of": plan.as_of.isoformat(),
            "windows": windows,
            "models": {
                name: {k: row[k] for k in keys} for name, row in self.ranking()
            },
            "failures": self.failures(),
        }

    def failures(self) -> list[dict[str, str | None]]:
        """Every model that failed, per window (`window_start`) or on the final fit on the
        `train_days` before as_of (`window_start` null): the artifact forecasts reuse."""
        as_of = self.result.plan.as_of
        return [
            {
                "model": model,
                "window_start": None if origin == as_of else origin.isoformat(),
                "message": message,
            }
            for (model, origin), message in sorted(self.result.failures.items())
        ]


def parse_models(text: str) -> list[str]:
    """`all` or a comma list of registry names; `ensemble` alone brings its default members."""
    known = [*model_names()]
    if ENSEMBLE not in known:
        known.append(ENSEMBLE)
    if text.strip().lower() == "all":
        return known
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise ForecastError(
            f"--model {text!r}: unknown model {', '.join(unknown) or '(none given)'} "
            f"(valid: all, {', '.join(known)})"
        )
    if chosen == [ENSEMBLE]:  # the ensemble alone still needs its members' forecasts
        chosen = [*(m.strip() for m in DEFAULT_MEMBERS.split(",")), ENSEMBLE]
    return list(dict.fromkeys(chosen))


def shifted_origins(plan: BacktestPlan, shifts: Sequence[RegimeShift]) -> set[datetime]:
    """Windows whose training data or target period straddles a detected level shift."""
    marked = set()
    for origin in plan.origins():
        begin = origin - timedelta(days=plan.train_days)
        end = origin + plan.horizon * HOUR
        if any(begin <= s.change_at < end for s in shifts):
            marked.add(origin)
    return marked


@dataclass(frozen=True)
class TrainingTarget:
    """Which account a backtest is for and what storing it needs besides the result."""

    account_id: int
    account: str
    shifts: list[RegimeShift]
    shifted_origins: set[datetime]
    run_dir: Path  # where the final fits' artifacts go: a new folder for every run


@dataclass(frozen=True)
class TrainingInput:
    """Everything a backtest of one account needs, read from the database in one go."""

    target: TrainingTarget
    posts: pd.DatetimeIndex
    events: list[EventWindow]


def prepare_training(
    engine: Engine, username: str, plan: BacktestPlan, artifact_dir: Path,
    rule: CountRule = ALL_KINDS,
) -> TrainingInput:
    """Load the posts the plan's windows need (plus a regime lookback) and detect shifts."""
    with session_scope(engine) as session:
        account = get_account(session, username)
        account_id, name = account.id, account.username
        span = plan.as_of - plan.first_training_start + REGIME_LOOKBACK
        history = load_history(session, account_id, plan.as_of, span / timedelta(days=1), rule)
    posts = pd.DatetimeIndex(pd.to_datetime(history.post_times, unit="s", utc=True))
    shifts = cusum_shifts(history.counts)
    # One folder per run: runs as of the same moment (another --train-days, other models)
    # shared one, so a later run overwrote the fits an earlier run's rows name, and a model
    # whose final fit failed was stored with the file an earlier run had left there.
    run_dir = (artifact_dir / str(account_id)
               / f"backtest-{model_version(plan.as_of)}-{uuid.uuid4().hex[:8]}")
    target = TrainingTarget(account_id, name, shifts, shifted_origins(plan, shifts), run_dir)
    return TrainingInput(target, posts, history.events)


def store_training(
    engine: Engine,
    target: TrainingTarget,
    models: Sequence[str],
    result: BacktestResult,
    final_seconds: dict[str, float],
) -> TrainReport:
    """Store a finished backtest (nothing is written when no model could be backtested).
    Final fits no stored row names (a model that failed on every window, or a run that is
    not stored) are deleted with the run's folder, so no artifact is left that nothing
    refers to."""
    run_dir = target.run_dir
    if not result.outcomes:
        shutil.rmtree(run_dir, ignore_errors=True)
        by_message: dict[str, list[str]] = {}
        for (model, _), message in result.failures.items():
            names = by_message.setdefault(message, [])
            if model not in names:
                names.append(model)
        problems = "; ".join(f"{', '.join(names)}: {message}"
                             for message, names in list(by_message.items())[:4])
        raise ForecastError(
            f"no model could be backtested as of {result.plan.as_of.isoformat()} "
            f"(--train-days {result.plan.train_days:g}, --backtest-windows "
            f"{result.plan.windows}): {problems}"
        )
    scored = set(result.models())
    artifacts = {m: run_dir / f"{m}.pkl" for m in models if (run_dir / f"{m}.pkl").is_file()}
    for name, path in list(artifacts.items()):
        if name not in scored:
            path.unlink(missing_ok=True)
            del artifacts[name]
    try:
        with session_scope(engine) as session:
            params = {m: create_model(m).get_params() for m in models if m != ENSEMBLE}
            if result.ensemble_weights:
                weights = result.ensemble_weights
                params[ENSEMBLE] = {"members": ",".join(sorted(weights)), "weights": weights,
                                    "sharpness": result.ensemble_sharpness}
            key = backtest_key(target.account_id, result, params, artifacts,
                               target.shifted_origins)
            ids = stored_run(session, target.account_id, key)
            already_stored = bool(ids)
            if not already_stored:
                ids = store_backtest(session, target.account_id, result, params, artifacts,
                                     final_seconds, target.shifted_origins, run_id=key)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # no row names them: nothing was stored
        raise
    if already_stored:  # the stored run's rows name its own copies of these fits
        shutil.rmtree(run_dir, ignore_errors=True)
    return TrainReport(target.account, result, target.shifts, target.shifted_origins, ids,
                       already_stored)


def train_account(
    engine: Engine,
    username: str,
    plan: BacktestPlan,
    models: Sequence[str],
    artifact_dir: Path,
    workers: int = 2,
    rule: CountRule = ALL_KINDS,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Backtest in a local process pool and store; reading and writing happen in separate
    short transactions, and nothing is written unless every step before storing succeeded."""
    prepared = prepare_training(engine, username, plan, artifact_dir, rule)
    try:
        result, final_seconds = run_backtest(
            plan, prepared.posts, prepared.events, models, workers=workers,
            artifact_dir=prepared.target.run_dir, on_progress=on_progress,
        )
    except BaseException:  # Ctrl-C, SIGTERM or a failure: the final fits no row will name
        shutil.rmtree(prepared.target.run_dir, ignore_errors=True)
        raise
    return store_training(engine, prepared.target, models, result, final_seconds)
