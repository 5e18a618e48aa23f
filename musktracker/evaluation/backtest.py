"""Rolling-origin backtests: refit every model at each window origin on the `train_days`
before it, forecast the next `horizon` hours, and score the forecast against what happened.

Windows end at the as-of time and step back by `step`, so any past moment can be replayed.
Windows run in parallel worker processes (each fits every model for its window); the
ensemble is then formed in the parent from its members' forecasts of the same window, with
weights chosen on the windows whose targets ended before that window began (no peeking);
its members are the ensemble's default members among the models run (all of them if none).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from musktracker.evaluation.metrics import WindowScore, score_forecast, summarize
from musktracker.features.build import EventWindow
from musktracker.forecasting.errors import ForecastError
from musktracker.models.base import ModelError, PredictiveDistribution
from musktracker.models.ensemble import (
    DEFAULT_MEMBERS,
    best_sharpness,
    mixture,
    sharpened,
    sharpness_crps,
    walk_forward_sharpness,
    walk_forward_weights,
    weights_from_forecasts,
)
from musktracker.models.history import history_from_posts
from musktracker.models.registry import create_model
from musktracker.utc import HOUR

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class BacktestPlan:
    """Where the windows lie: the last one ends at `as_of`, earlier ones every `step`."""

    as_of: datetime
    windows: int = 12
    train_days: float = 30.0
    horizon: int = 24  # hours
    step: timedelta = timedelta(days=1)
    n_samples: int = 1000
    seed: int = 0

    def origins(self) -> list[datetime]:
        """Forecast start of every window, oldest first."""
        last = self.as_of - self.horizon * HOUR
        return [last - k * self.step for k in reversed(range(self.windows))]

    @property
    def first_training_start(self) -> datetime:
        return self.origins()[0] - timedelta(days=self.train_days)


@dataclass(frozen=True)
class WindowOutcome:
    """One model's forecast of one window, scored; the samples feed the ensemble."""

    model: str
    origin: datetime
    samples: NDArray[np.int64]
    mean: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    actual: NDArray[np.int64]
    score: WindowScore
    fit_seconds: float


@dataclass
class BacktestResult:
    plan: BacktestPlan
    outcomes: list[WindowOutcome] = field(default_factory=list)
    failures: dict[tuple[str, datetime], str] = field(default_factory=dict)
    # CRPS-optimal ensemble weights from every window (all ended by as_of): for forecasts
    ensemble_weights: dict[str, float] = field(default_factory=dict)
    # and the ensemble's sharpness chosen on every window's pooled totals
    ensemble_sharpness: float = 1.0

    def models(self) -> list[str]:
        return sorted({o.model for o in self.outcomes})

    def of(self, model: str) -> list[WindowOutcome]:
        return sorted((o for o in self.outcomes if o.model == model), key=lambda o: o.origin)

    def summary(self) -> dict[str, dict[str, float]]:
        """Pooled metrics per model (see metrics.summarize) plus mean fit seconds."""
        table = {}
        for model in self.models():
            outcomes = self.of(model)
            row = summarize([o.score for o in outcomes])
            row["fit_seconds"] = float(np.mean([o.fit_seconds for o in outcomes]))
            row["windows"] = float(len(outcomes))
            table[model] = row
        return table


@dataclass(frozen=True)
class WindowTask:
    """One unit of backtest work: fit every model on the `train_days` before `origin` and,
    when `actual` is given, forecast and score the window; otherwise (the final fit) save
    each fitted model into `artifact_dir`. Runs in a worker process or a Celery task."""

    origin: datetime
    models: tuple[tuple[str, dict[str, Any]], ...]
    train_days: float
    horizon: int
    n_samples: int
    seed: int
    actual: NDArray[np.int64] | None  # None: final fit, nothing to score
    artifact_dir: Path | None


@dataclass
class WindowRun:
    """What one WindowTask produced: scored forecasts, failures by model, fit seconds."""

    outcomes: list[WindowOutcome] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def window_tasks(
    plan: BacktestPlan,
    posts: pd.DatetimeIndex,
    models: Sequence[str],
    hyperparameters: dict[str, dict[str, Any]] | None = None,
    artifact_dir: Path | None = None,
) -> list[WindowTask]:
    """Every window of the plan (the ensemble is formed later from its members), plus the
    final fit on the `train_days` before `as_of` when `artifact_dir` is given."""
    params = hyperparameters or {}
    members = [m for m in models if m != ENSEMBLE]
    if ENSEMBLE in models and not members:
        raise ForecastError("--model: the ensemble needs other models in the same backtest")
    spec = tuple((m, params.get(m, {})) for m in members)
    counts = _hourly(posts, plan.first_training_start, plan.as_of)
    tasks = [
        WindowTask(
            origin,
            spec,
            plan.train_days,
            plan.horizon,
            plan.n_samples,
            plan.seed,
            counts.loc[origin : origin + (plan.horizon - 1) * HOUR].to_numpy(dtype="int64"),
            None,
        )
        for origin in plan.origins()
    ]
    if artifact_dir is not None:
        tasks.append(
            WindowTask(plan.as_of, spec, plan.train_days, plan.horizon, 1, plan.seed, None,
                       artifact_dir)
        )
    return tasks


def run_window(
    task: WindowTask, posts: pd.DatetimeIndex, events: list[EventWindow]
) -> WindowRun:
    """Fit and forecast every model for one window origin."""
    run = WindowRun()
    try:
        history = history_from_posts(posts, task.origin, task.train_days, events)
    except ModelError as exc:
        run.failures = {name: str(exc) for name, _ in task.models}
        return run
    for i, (name, params) in enumerate(task.models):
        try:
            began = time.perf_counter()
            model = create_model(name, **params).fit(history)
            run.seconds[name] = time.perf_counter() - began
            if task.actual is None:
                if task.artifact_dir is not None:
                    model.save(task.artifact_dir / f"{name}.pkl")
                continue
            forecast = model.predict(task.horizon, task.n_samples, seed=task.seed + i)
        except (ModelError, ValueError, np.linalg.LinAlgError) as exc:
            run.failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        run.outcomes.append(_outcome(name, task.origin, forecast, task.actual, run.seconds[name]))
    return run


_POSTS: pd.DatetimeIndex | None = None
_EVENTS: list[EventWindow] = []

PARENT_CHECK_SECONDS = 0.5
"""How often a pool worker checks that the process that started it is still there."""


def _init_worker(posts: pd.DatetimeIndex, events: list[EventWindow]) -> None:
    """Runs first in every pool worker. Interrupts are the parent's business: Ctrl-C (sent
    to the whole foreground process group) is ignored here, so a worker waiting for work
    prints no KeyboardInterrupt traceback, and SIGTERM has its default effect (the parent's
    handler, inherited through fork, would raise in the worker instead of ending it). A
    watchdog ends the worker when its parent is gone: a parent killed with SIGKILL left its
    workers fitting the remaining windows, then blocked forever on the dead parent's pipe,
    holding the database file and the terminal's output open."""
    global _POSTS, _EVENTS
    _POSTS, _EVENTS = posts, events
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker as soon as its parent has died (it is then re-parented)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the windows not started and end the workers now. Leaving the `with` block on
    an exception (Ctrl-C, SIGTERM) used to wait for every queued window to be fitted (tens
    of seconds, minutes with hundreds of windows) before the command could stop."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for worker in workers:  # a worker writes nothing that a kill could leave half-done
        worker.kill()
    # The pool sees its workers gone, fails what was queued and stops its thread; waiting
    # for that thread avoids a race in Python 3.11's exit handler (EBADF "Exception ignored").
    pool.shutdown(wait=True, cancel_futures=True)


def _run_in_pool(task: WindowTask) -> WindowRun:
    assert _POSTS is not None, "worker not initialised"
    return run_window(task, _POSTS, _EVENTS)


def _outcome(
    name: str, origin: datetime, forecast: PredictiveDistribution, actual: NDArray[np.int64],
    fit_seconds: float,
) -> WindowOutcome:
    lower, upper = forecast.interval(0.95)
    return WindowOutcome(
        model=name,
        origin=origin,
        samples=forecast.samples,
        mean=np.asarray(forecast.mean, dtype="float64"),
        lower=np.asarray(lower, dtype="float64"),
        upper=np.asarray(upper, dtype="float64"),
        actual=actual,
        score=score_forecast(forecast, actual),
        fit_seconds=fit_seconds,
    )


def _ensemble_outcomes(result: BacktestResult, members: Sequence[str]) -> None:
    """Score the ensemble on every window with weights (CRPS-optimal mixture) and sharpness
    (CRPS of window totals) fitted on the windows whose targets ended before that window
    began; the first windows weigh equally and are not sharpened. Members are rebuilt from
    their samples, so the mixture's log score uses their sample-smoothed probabilities."""
    plan = result.plan
    by_model = {m: {o.origin: o for o in result.of(m)} for m in members}
    # A member that failed on every window (too little history for it: a new account) is
    # left out, as the fitted ensemble leaves it out; it used to leave the ensemble unscored.
    members = [m for m in members if by_model[m]]
    if not members:
        return
    origins = [o for o in plan.origins() if all(o in by_model[m] for m in members)]
    # members that failed on a window leave the ensemble out of that window
    windows = [
        {m: PredictiveDistribution(o, by_model[m][o].samples) for m in members} for o in origins
    ]
    actuals = [by_model[members[0]][o].actual for o in origins]
    rngs = [np.random.default_rng(plan.seed + 7919 * (k + 1)) for k in range(len(origins))]
    pooled = [
        mixture(forecasts, weights, rng, plan.n_samples)
        for forecasts, weights, rng in zip(
            windows, walk_forward_weights(windows, actuals), rngs, strict=True
        )
    ]
    scores = np.array([sharpness_crps(f, y) for f, y in zip(pooled, actuals, strict=True)])
    sharpness = walk_forward_sharpness(windows, scores)
    for origin, forecast, a, actual, rng in zip(
        origins, pooled, sharpness, actuals, rngs, strict=True
    ):
        # What fitting the ensemble costs: fitting its members (its weights take microseconds).
        fit = sum(by_model[m][origin].fit_seconds for m in members)
        result.outcomes.append(_outcome(ENSEMBLE, origin, sharpened(forecast, a, rng), actual, fit))
    if windows:
        result.ensemble_weights = weights_from_forecasts(list(zip(windows, actuals, strict=True)))
        result.ensemble_sharpness = best_sharpness(scores)


def collect(
    plan: BacktestPlan,
    models: Sequence[str],
    runs: Sequence[tuple[WindowTask, WindowRun]],
) -> tuple[BacktestResult, dict[str, float]]:
    """The backtest result from every window's run (in any order), with the ensemble formed
    when it was asked for; also the final fit's seconds per model."""
    result = BacktestResult(plan)
    final_seconds: dict[str, float] = {}
    for task, run in runs:
        result.outcomes.extend(run.outcomes)
        for name, message in run.failures.items():
            result.failures[(name, task.origin)] = message
        if task.actual is None:
            final_seconds = run.seconds
    members = [m for m in models if m != ENSEMBLE]
    if ENSEMBLE in models:
        defaults = [m.strip() for m in DEFAULT_MEMBERS.split(",")]
        _ensemble_outcomes(result, [m for m in members if m in defaults] or members)
    return result, final_seconds


def run_backtest(
    plan: BacktestPlan,
    posts: pd.DatetimeIndex,
    events: list[EventWindow],
    models: Sequence[str],
    hyperparameters: dict[str, dict[str, Any]] | None = None,
    workers: int | None = None,
    artifact_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[BacktestResult, dict[str, float]]:
    """Run every window in a pool of worker processes (and, with `artifact_dir`, a final fit
    on the `train_days` before `as_of` whose artifacts are saved there). Returns the result
    and final fit seconds. The worker's weekly training runs the same windows as a Celery
    group instead (worker/backtest_tasks.py)."""
    tasks = window_tasks(plan, posts, models, hyperparameters, artifact_dir)
    runs: list[tuple[WindowTask, WindowRun]] = []
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(posts, events))
    try:
        futures = {pool.submit(_run_in_pool, task): task for task in tasks}
        for done, future in enumerate(as_completed(futures), start=1):
            runs.append((futures[future], future.result()))
            if on_progress is not None:
                on_progress(done, len(tasks))
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown()
    return collect(plan, models, runs)


def _hourly(posts: pd.DatetimeIndex, start: datetime, end: datetime) -> pd.Series:
    """Dense hourly counts of `posts` for bucket starts in [start, end)."""
    index = pd.date_range(start, end - HOUR, freq="h", tz="UTC")
    chosen = posts[(posts >= pd.Timestamp(start)) & (posts < pd.Timestamp(end))]
    counts = pd.Series(1, index=chosen.floor("h")).groupby(level=0).sum()
    return counts.reindex(index, fill_value=0).astype("int64")
