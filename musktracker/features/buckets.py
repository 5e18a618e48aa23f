"""Hourly and daily post counts per account, in UTC, with zero-count buckets stored.

Buckets cover every hour (and day) from an account's first post to its last, so a missing
bucket always means "not computed", never "no posts". New posts only recompute the span
they touch, widened to close any gap to the buckets already stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from musktracker.db.dialect import bulk_insert
from musktracker.db.models import Granularity, PostKind, RawTweet, TimeBucket
from musktracker.features.count_rule import ALL_KINDS, KIND_COLUMNS, CountRule
from musktracker.utc import DAY, HOUR, floor_day, floor_hour, utcnow

Span = tuple[datetime, datetime]
"""Inclusive range of hourly bucket starts."""


def bucket_span(
    session: Session, account_id: int, granularity: Granularity = Granularity.HOURLY
) -> Span | None:
    """First and last stored bucket start of an account, or None before any."""
    lo, hi = session.execute(
        select(func.min(TimeBucket.bucket_start), func.max(TimeBucket.bucket_start)).where(
            TimeBucket.account_id == account_id, TimeBucket.granularity == granularity.value
        )
    ).one()
    return (lo, hi) if lo is not None else None


def _post_times(session: Session, account_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    rows = session.execute(
        select(RawTweet.created_at, RawTweet.kind).where(
            RawTweet.account_id == account_id,
            RawTweet.is_deleted.is_(False),
            RawTweet.created_at >= start,
            RawTweet.created_at < end,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["created_at", "kind"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def _count_table(posts: pd.DataFrame, freq: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Counts per kind for every bucket start in [start, end], zeros included."""
    index = pd.date_range(start, end, freq=freq, tz="UTC")
    keys = posts["created_at"].dt.floor(freq)
    table = pd.crosstab(keys, posts["kind"]) if len(posts) else pd.DataFrame(index=index[:0])
    table = table.reindex(index=index, columns=[k.value for k in PostKind], fill_value=0)
    return table.fillna(0).astype("int64")


def _write(
    session: Session, account_id: int, granularity: Granularity, table: pd.DataFrame, width: Any
) -> None:
    start, end = table.index[0].to_pydatetime(), table.index[-1].to_pydatetime()
    session.execute(
        delete(TimeBucket).where(
            TimeBucket.account_id == account_id,
            TimeBucket.granularity == granularity.value,
            TimeBucket.bucket_start >= start,
            TimeBucket.bucket_start <= end,
        )
    )
    now = utcnow()
    totals = table.sum(axis=1).to_numpy()
    per_kind = {KIND_COLUMNS[k]: table[k.value].to_numpy() for k in PostKind}
    rows = [
        {
            "account_id": account_id,
            "bucket_start": ts,
            "bucket_end": ts + width,
            "granularity": granularity.value,
            "tweet_count": int(totals[i]),
            **{col: int(values[i]) for col, values in per_kind.items()},
            "computed_at": now,
        }
        for i, ts in enumerate(pd.DatetimeIndex(table.index).to_pydatetime())
    ]
    bulk_insert(session, TimeBucket, rows)


def refresh_buckets(session: Session, account_id: int, start: datetime, end: datetime) -> Span:
    """Recompute hourly and daily buckets for posts in [start, end]; returns the hourly span
    recomputed, widened so the stored series stays gap-free."""
    lo, hi = floor_hour(start), floor_hour(end)
    existing = bucket_span(session, account_id)
    if existing is not None:
        if lo > existing[1]:
            lo = existing[1] + HOUR
        if hi < existing[0]:
            hi = existing[0] - HOUR
    day_lo, day_hi = floor_day(lo), floor_day(hi)
    posts = _post_times(session, account_id, day_lo, day_hi + DAY)
    hourly = _count_table(posts, "h", lo, hi)
    _write(session, account_id, Granularity.HOURLY, hourly, HOUR)
    _write(session, account_id, Granularity.DAILY, _count_table(posts, "D", day_lo, day_hi), DAY)
    return lo, hi


def rebuild_buckets(session: Session, account_id: int) -> Span | None:
    """Recompute every bucket of an account from scratch (after bulk deletions, say)."""
    first, last = session.execute(
        select(func.min(RawTweet.created_at), func.max(RawTweet.created_at)).where(
            RawTweet.account_id == account_id, RawTweet.is_deleted.is_(False)
        )
    ).one()
    session.execute(delete(TimeBucket).where(TimeBucket.account_id == account_id))
    if first is None:
        return None
    return refresh_buckets(session, account_id, first, last)


def bucket_counts(
    session: Session,
    account_id: int,
    granularity: Granularity = Granularity.HOURLY,
    rule: CountRule = ALL_KINDS,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.Series:
    """Counts per stored bucket under a counting rule, indexed by bucket start (UTC), for
    bucket starts in [start, end)."""
    columns = [getattr(TimeBucket, c) for c in rule.columns]
    conditions = [
        TimeBucket.account_id == account_id,
        TimeBucket.granularity == granularity.value,
    ]
    if start is not None:
        conditions.append(TimeBucket.bucket_start >= start)
    if end is not None:
        conditions.append(TimeBucket.bucket_start < end)
    rows = session.execute(
        select(TimeBucket.bucket_start, *columns)
        .where(and_(*conditions))
        .order_by(TimeBucket.bucket_start)
    ).all()
    frame = pd.DataFrame(rows, columns=["bucket_start", *rule.columns])
    index = pd.DatetimeIndex(pd.to_datetime(frame["bucket_start"], utc=True), name="bucket_start")
    values = frame[rule.columns].sum(axis=1).astype("int64").to_numpy()
    return pd.Series(values, index=index, name="count")


def hourly_counts(
    session: Session,
    account_id: int,
    rule: CountRule = ALL_KINDS,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.Series:
    """Hourly counts under a counting rule, indexed by bucket start (UTC), for bucket
    starts in [start, end)."""
    return bucket_counts(session, account_id, Granularity.HOURLY, rule, start, end)
