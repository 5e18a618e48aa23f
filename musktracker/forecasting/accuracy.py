"""Live accuracy: once an hour is complete, stored forecasts get the count that happened,
and their accuracy can be reported per model.

An hour counts as complete when it ends no later than the current hour's start and no later
than the end of the newest stored bucket, so a late-arriving post of an hour still being
collected cannot leave a wrong actual behind (and buckets recomputed later refill it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from musktracker.db.models import Forecast, Granularity, ModelMetadata, TimeBucket
from musktracker.features.buckets import Span, bucket_span
from musktracker.utc import HOUR, floor_hour, utcnow


def fill_actuals(session: Session, account_id: int, refreshed: Span | None = None) -> int:
    """Set `actual_count` on forecasts of complete hours that lack it, and on those whose
    bucket was just recomputed (`refreshed`, inclusive bucket starts). Returns rows set."""
    span = bucket_span(session, account_id)
    if span is None:
        return 0
    complete_before = min(floor_hour(utcnow()), span[1] + HOUR) - HOUR
    needs = (
        Forecast.actual_count.is_(None)
        if refreshed is None
        else or_(
            Forecast.actual_count.is_(None),
            Forecast.target_time.between(refreshed[0], refreshed[1]),
        )
    )
    rows = session.execute(
        select(Forecast, TimeBucket.tweet_count)
        .join(
            TimeBucket,
            and_(
                TimeBucket.account_id == Forecast.account_id,
                TimeBucket.granularity == Granularity.HOURLY.value,
                TimeBucket.bucket_start == Forecast.target_time,
            ),
        )
        .where(Forecast.account_id == account_id, Forecast.target_time < complete_before + HOUR,
               needs)
    ).all()
    for forecast, count in rows:
        forecast.actual_count = int(count)
    return len(rows)


@dataclass(frozen=True)
class ModelAccuracy:
    model: str
    forecasts: int
    first_target: datetime
    last_target: datetime
    mae: float
    rmse: float
    bias: float  # mean of predicted - actual
    coverage_95: float


def accuracy_by_model(session: Session, account_id: int) -> list[ModelAccuracy]:
    """Accuracy of every stored forecast with a known actual, per model (best MAE first)."""
    rows = session.execute(
        select(
            ModelMetadata.model_name,
            Forecast.target_time,
            Forecast.predicted_count,
            Forecast.lower_bound_95,
            Forecast.upper_bound_95,
            Forecast.actual_count,
        )
        .join(ModelMetadata, ModelMetadata.id == Forecast.model_metadata_id)
        .where(Forecast.account_id == account_id, Forecast.actual_count.is_not(None))
    ).all()
    by_model: dict[str, list[tuple[datetime, float, float, float, float]]] = {}
    for name, target, predicted, lower, upper, actual in rows:
        by_model.setdefault(name, []).append(
            (
                target,
                predicted,
                -np.inf if lower is None else lower,
                np.inf if upper is None else upper,
                float(actual or 0),
            )
        )
    report = []
    for name, items in by_model.items():
        targets = [item[0] for item in items]
        values = np.array([item[1:] for item in items], dtype="float64")
        pred, lo, hi, actual = values.T
        err = pred - actual
        report.append(
            ModelAccuracy(
                model=name,
                forecasts=len(items),
                first_target=min(targets),
                last_target=max(targets),
                mae=float(np.mean(np.abs(err))),
                rmse=float(np.sqrt(np.mean(err**2))),
                bias=float(np.mean(err)),
                coverage_95=float(np.mean((actual >= lo) & (actual <= hi))),
            )
        )
    return sorted(report, key=lambda r: r.mae)
