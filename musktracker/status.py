"""Where each account stands: posts, buckets, features and the last ingest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musktracker.accounts import list_accounts
from musktracker.db.models import Feature, Granularity, IngestState, RawTweet, TimeBucket


@dataclass(frozen=True)
class AccountStatus:
    username: str
    posts: int
    deleted_posts: int
    first_post: datetime | None
    last_post: datetime | None
    hourly_buckets: int
    daily_buckets: int
    hourly_bucket_total: int
    features: int
    last_ingest: datetime | None


def account_statuses(session: Session) -> list[AccountStatus]:
    """One status per tracked account."""
    out = []
    for account in list_accounts(session):
        live = (RawTweet.account_id == account.id) & RawTweet.is_deleted.is_(False)
        posts, first, last = session.execute(
            select(
                func.count(), func.min(RawTweet.created_at), func.max(RawTweet.created_at)
            ).where(live)
        ).one()
        deleted = session.scalar(
            select(func.count()).where(
                RawTweet.account_id == account.id, RawTweet.is_deleted.is_(True)
            )
        )
        buckets = dict(
            session.execute(
                select(TimeBucket.granularity, func.count())
                .where(TimeBucket.account_id == account.id)
                .group_by(TimeBucket.granularity)
            ).all()
        )
        hourly_total = session.scalar(
            select(func.coalesce(func.sum(TimeBucket.tweet_count), 0)).where(
                TimeBucket.account_id == account.id,
                TimeBucket.granularity == Granularity.HOURLY.value,
            )
        )
        features = session.scalar(select(func.count()).where(Feature.account_id == account.id))
        last_ingest = max(
            (
                t
                for t in (
                    session.scalar(
                        select(func.max(IngestState.updated_at)).where(
                            IngestState.account_id == account.id
                        )
                    ),
                    session.scalar(
                        select(func.max(RawTweet.ingest_time)).where(
                            RawTweet.account_id == account.id
                        )
                    ),
                )
                if t is not None
            ),
            default=None,
        )
        out.append(
            AccountStatus(
                username=account.username,
                posts=posts,
                deleted_posts=deleted or 0,
                first_post=first,
                last_post=last,
                hourly_buckets=buckets.get(Granularity.HOURLY.value, 0),
                daily_buckets=buckets.get(Granularity.DAILY.value, 0),
                hourly_bucket_total=int(hourly_total or 0),
                features=features or 0,
                last_ingest=last_ingest,
            )
        )
    return out
