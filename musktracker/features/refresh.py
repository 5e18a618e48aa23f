"""Keeping buckets and features in step with the posts: one call after any write."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musktracker.db.models import RawTweet
from musktracker.features.buckets import Span, bucket_span, rebuild_buckets, refresh_buckets
from musktracker.features.build import refresh_after_buckets, refresh_features, stored_rules
from musktracker.features.count_rule import CountRule
from musktracker.forecasting.accuracy import fill_actuals
from musktracker.utc import HOUR


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


def rebuild_account(
    session: Session, account_id: int, extra_rules: Iterable[CountRule] = ()
) -> RefreshResult | None:
    """Recompute every bucket of an account from its posts, then its features under every
    stored counting rule plus `extra_rules`. None when the account has no posts."""
    span = rebuild_buckets(session, account_id)
    if span is None:
        return None
    rules = {r.name: r for r in [*stored_rules(session, account_id), *extra_rules]}
    written = sum(
        refresh_features(session, account_id, span[0], span[1] + HOUR, r) for r in rules.values()
    )
    return RefreshResult(span, written)


def refresh_account(session: Session, account_id: int) -> RefreshResult | None:
    """Bring buckets and features up to the account's newest post, recomputing only from
    its last stored hour on (a full rebuild when none is stored). Safe to repeat."""
    newest = session.scalar(
        select(func.max(RawTweet.created_at)).where(
            RawTweet.account_id == account_id, RawTweet.is_deleted.is_(False)
        )
    )
    if newest is None:
        return None
    span = bucket_span(session, account_id)
    if span is None:
        return rebuild_account(session, account_id)
    return refresh_after_posts(session, account_id, (span[1], max(newest, span[1])))
