"""Which model of a backtest run is best: the one with the lowest CRPS on the same windows.

A model that needs more history than the early windows give (a new account: hawkes a week,
negative_binomial 8 days) is scored on the later windows only, and pooled CRPS over
different windows does not compare: on an account with 10 days of posts negative_binomial,
scored on its last window alone, ranked first with 0.298 while on that very window the
hour-of-day mean scored 0.277 and the daily seasonal naive 0.239. So the ranking CRPS is
each model's mean over the windows every model of the run was scored on; when every model
has the same windows (the usual case) it is the pooled CRPS stored with the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.models import BacktestResult as BacktestRow
from musktracker.db.models import ModelMetadata


def comparable_crps(
    per_window: Mapping[str, Mapping[datetime, float]], pooled: Mapping[str, float]
) -> dict[str, float]:
    """The CRPS to rank each model by: its mean over the windows all models were scored on,
    or its pooled CRPS when they were all scored on the same windows (or share none)."""
    windows = [set(scores) for scores in per_window.values()]
    common = set.intersection(*windows) if windows else set()
    if not common or all(w == common for w in windows):
        return dict(pooled)
    return {
        model: float(np.mean([scores[w] for w in sorted(common)]))
        for model, scores in per_window.items()
    }


def common_windows(per_window: Mapping[str, Mapping[datetime, float]]) -> list[datetime]:
    """The windows every model was scored on, when the models' windows differ (else [])."""
    windows = [set(scores) for scores in per_window.values()]
    common = set.intersection(*windows) if windows else set()
    return [] if all(w == common for w in windows) else sorted(common)


def run_ranking(session: Session, rows: Sequence[ModelMetadata]) -> list[tuple[str, float]]:
    """The models of one stored run (`results.latest_backtest`) with their ranking CRPS,
    best first (ties by name)."""
    scored = [row for row in rows if row.crps is not None]
    if not scored:
        return []
    per_window: dict[str, dict[datetime, float]] = {row.model_name: {} for row in scored}
    names = {row.id: row.model_name for row in scored}
    for meta_id, start, crps in session.execute(
        select(BacktestRow.model_metadata_id, BacktestRow.window_start, BacktestRow.crps)
        .where(BacktestRow.model_metadata_id.in_(list(names)))
    ):
        if meta_id is not None and crps is not None:
            per_window[names[meta_id]][start] = float(crps)
    ranked = comparable_crps(per_window, {row.model_name: float(row.crps or 0) for row in scored})
    return sorted(ranked.items(), key=lambda item: (item[1], item[0]))
