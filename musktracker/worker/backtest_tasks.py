"""The weekly backtest fanned out over Celery workers: one task per window in a group, and a
chord callback that forms the ensemble from all windows and stores the run.

A chord, not a task that waits on its children: a worker slot blocked on `.get()` could
starve the very windows it waits for (and Celery forbids it). Each window task gets only the
posts its training window needs, as JSON (epoch nanoseconds), and returns its scored forecasts
with their sample paths, so the callback can weigh the ensemble exactly as the in-process
backtest does (evaluation/backtest.py `collect`). The final fits are saved by one window
task under ARTIFACT_DIR, which must be shared by all workers (a volume in docker-compose).

A run is launched once per account and as-of time: a Redis key set with NX guards the
launch for the task time limit, and the callback stores nothing when a run for the same
as-of time is already stored, so a redelivered job never stores a second run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from celery import Celery, chord, group
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.config import Settings, get_settings
from musktracker.db.models import BacktestResult as BacktestRow
from musktracker.db.session import get_engine, session_scope
from musktracker.evaluation.backtest import (
    BacktestPlan,
    WindowOutcome,
    WindowRun,
    WindowTask,
    collect,
    run_window,
    window_tasks,
)
from musktracker.evaluation.metrics import WindowScore
from musktracker.evaluation.regimes import RegimeShift
from musktracker.evaluation.training import TrainingTarget, prepare_training, store_training
from musktracker.features.build import EventWindow
from musktracker.logging import get_logger
from musktracker.utc import HOUR

log = get_logger(__name__)

WINDOW_TASK = "musktracker.training.window"
COLLECT_TASK = "musktracker.training.collect"

Json = dict[str, Any]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def encode_plan(plan: BacktestPlan) -> Json:
    return {"as_of": plan.as_of.isoformat(), "windows": plan.windows,
            "train_days": plan.train_days, "horizon": plan.horizon,
            "step_hours": plan.step / HOUR, "n_samples": plan.n_samples, "seed": plan.seed}


def decode_plan(data: Json) -> BacktestPlan:
    return BacktestPlan(_time(data["as_of"]), int(data["windows"]), float(data["train_days"]),
                        int(data["horizon"]), timedelta(hours=float(data["step_hours"])),
                        int(data["n_samples"]), int(data["seed"]))


def encode_task(task: WindowTask) -> Json:
    return {
        "origin": task.origin.isoformat(),
        "models": [[name, params] for name, params in task.models],
        "train_days": task.train_days,
        "horizon": task.horizon,
        "n_samples": task.n_samples,
        "seed": task.seed,
        "actual": None if task.actual is None else task.actual.tolist(),
        "artifact_dir": None if task.artifact_dir is None else str(task.artifact_dir),
    }


def decode_task(data: Json) -> WindowTask:
    return WindowTask(
        origin=_time(data["origin"]),
        models=tuple((str(name), dict(params)) for name, params in data["models"]),
        train_days=float(data["train_days"]),
        horizon=int(data["horizon"]),
        n_samples=int(data["n_samples"]),
        seed=int(data["seed"]),
        actual=None if data["actual"] is None else np.asarray(data["actual"], dtype="int64"),
        artifact_dir=None if data["artifact_dir"] is None else Path(data["artifact_dir"]),
    )


def _encode_outcome(outcome: WindowOutcome) -> Json:
    return {
        "model": outcome.model,
        "origin": outcome.origin.isoformat(),
        "samples": outcome.samples.tolist(),
        "mean": outcome.mean.tolist(),
        "lower": outcome.lower.tolist(),
        "upper": outcome.upper.tolist(),
        "actual": outcome.actual.tolist(),
        "score": outcome.score.as_dict(),
        "fit_seconds": outcome.fit_seconds,
    }


def _decode_outcome(data: Json) -> WindowOutcome:
    return WindowOutcome(
        model=data["model"],
        origin=_time(data["origin"]),
        samples=np.asarray(data["samples"], dtype="int64"),
        mean=np.asarray(data["mean"], dtype="float64"),
        lower=np.asarray(data["lower"], dtype="float64"),
        upper=np.asarray(data["upper"], dtype="float64"),
        actual=np.asarray(data["actual"], dtype="int64"),
        score=WindowScore.from_dict(data["score"]),
        fit_seconds=float(data["fit_seconds"]),
    )


def encode_run(run: WindowRun) -> Json:
    return {"outcomes": [_encode_outcome(o) for o in run.outcomes],
            "failures": run.failures, "seconds": run.seconds}


def decode_run(data: Json) -> WindowRun:
    return WindowRun([_decode_outcome(o) for o in data["outcomes"]], dict(data["failures"]),
                     {k: float(v) for k, v in data["seconds"].items()})


def encode_posts(posts: pd.DatetimeIndex) -> list[int]:
    """Nanoseconds since the epoch: exact, so a window sees the very same hours."""
    nanoseconds: list[int] = posts.as_unit("ns").asi8.tolist()
    return nanoseconds


def decode_posts(nanoseconds: list[int]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(nanoseconds, dtype="int64"), unit="ns",
                                           utc=True))


def posts_for(task: WindowTask, posts: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The posts a window's history is built from: its training span, and the last post
    before it (the history starts at the account's first post when that is later)."""
    start = pd.Timestamp(task.origin - timedelta(days=task.train_days))
    first = max(int(posts.searchsorted(start)) - 1, 0)
    return posts[first : int(posts.searchsorted(pd.Timestamp(task.origin)))]


def _encode_events(events: list[EventWindow]) -> list[Json]:
    return [{"start": e.start.isoformat(), "end": e.end.isoformat(), "intensity": e.intensity}
            for e in events]


def _decode_events(data: list[Json]) -> list[EventWindow]:
    return [EventWindow(_time(e["start"]), _time(e["end"]), float(e["intensity"])) for e in data]


def _encode_target(target: TrainingTarget) -> Json:
    return {"account_id": target.account_id, "account": target.account,
            "shifts": [s.as_json() for s in target.shifts],
            "shifted_origins": sorted(o.isoformat() for o in target.shifted_origins),
            "run_dir": str(target.run_dir)}


def _decode_target(data: Json) -> TrainingTarget:
    shifts = [
        RegimeShift(**{**s, "change_at": _time(s["change_at"]),
                       "detected_at": _time(s["detected_at"])})
        for s in data["shifts"]
    ]
    return TrainingTarget(int(data["account_id"]), data["account"], shifts,
                          {_time(o) for o in data["shifted_origins"]}, Path(data["run_dir"]))


def _already_stored(engine: Engine, account_id: int, as_of: datetime) -> bool:
    with session_scope(engine) as session:
        found = session.scalar(
            select(BacktestRow.id)
            .where(BacktestRow.account_id == account_id, BacktestRow.as_of == as_of)
            .limit(1)
        )
    return found is not None


def launch_training(
    app: Celery, settings: Settings, engine: Engine, username: str, plan: BacktestPlan,
    models: list[str],
) -> Json:
    """Queue one account's backtest as a chord of window tasks; returns what was queued."""
    prepared = prepare_training(engine, username, plan, settings.artifact_dir)
    target = prepared.target
    key = f"musktracker:training:{target.account_id}:{plan.as_of.isoformat()}"
    client = redis.Redis.from_url(str(settings.redis_url))
    if not client.set(key, "launched", nx=True, ex=settings.worker_task_time_limit):
        return {"skipped": f"a run as of {plan.as_of.isoformat()} is already queued"}
    tasks = window_tasks(plan, prepared.posts, models, artifact_dir=target.run_dir)
    events = _encode_events(prepared.events)
    header = [
        app.signature(WINDOW_TASK, args=(encode_task(task),
                                         encode_posts(posts_for(task, prepared.posts)), events))
        for task in tasks
    ]
    callback = app.signature(COLLECT_TASK, args=(encode_plan(plan), models,
                                                 _encode_target(target)))
    result = chord(group(header))(callback)
    log.info("backtest fanned out", account=target.account, windows=len(tasks),
             as_of=plan.as_of.isoformat(), chord=result.id)
    return {"as_of": plan.as_of.isoformat(), "window_tasks": len(tasks), "chord": result.id}


def run_window_task(task: Json, posts: list[int], events: list[Json]) -> Json:
    """One backtest window (a Celery task); returns the task with its run."""
    run = run_window(decode_task(task), decode_posts(posts), _decode_events(events))
    return {"task": task, "run": encode_run(run)}


def collect_training(runs: list[Json], plan: Json, models: list[str], target: Json) -> Json:
    """The chord callback: form the ensemble from every window and store the run."""
    decoded_plan, decoded_target = decode_plan(plan), _decode_target(target)
    engine = get_engine(get_settings().database_url)
    if _already_stored(engine, decoded_target.account_id, decoded_plan.as_of):
        return {"skipped": f"already trained as of {decoded_plan.as_of.isoformat()}"}
    pairs = [(decode_task(done["task"]), decode_run(done["run"])) for done in runs]
    result, final_seconds = collect(decoded_plan, models, pairs)
    report = store_training(engine, decoded_target, models, result, final_seconds)
    ranking = report.ranking()
    best, row = ranking[0]
    log.info("backtest stored", account=report.account, as_of=decoded_plan.as_of.isoformat(),
             best=best, crps=row["crps"], window_tasks=len(pairs))
    return {"as_of": decoded_plan.as_of.isoformat(), "best": best, "crps": row["crps"],
            "models": len(ranking), "window_tasks": len(pairs)}
