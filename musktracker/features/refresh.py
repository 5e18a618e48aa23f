"""Keeping buckets and features in step with the posts: one call after any write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from musktracker.features.buckets import Span, refresh_buckets
from musktracker.features.build import refresh_after_buckets
from musktracker.forecasting.accuracy import fill_actuals


@dataclass(frozen=True)
class RefreshResult:
    hourly_span: Span
    features_written: int


def refresh_after_posts(
    session: Session, account_id: int, span: tuple[datetime, datetime]
) -> RefreshResult:
    """Recompute the buckets that posts in `span` touch, then every feature they reach, then
    the actual counts of stored forecasts for those hours."""
    hourly = refresh_buckets(session, account_id, span[0], span[1])
    result = RefreshResult(hourly, refresh_after_buckets(session, account_id, hourly))
    fill_actuals(session, account_id, hourly)
    return result
