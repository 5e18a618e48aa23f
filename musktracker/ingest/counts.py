"""Cross-checking our hourly buckets against X's own hourly counts (recent counts, the
last 7 days): a difference points at posts we missed or X's view has changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from musktracker.accounts import get_account
from musktracker.db.session import session_scope
from musktracker.features.buckets import hourly_counts
from musktracker.ingest.client import XClient
from musktracker.utc import DAY, HOUR, floor_hour, utcnow


@dataclass(frozen=True)
class HourCheck:
    hour: datetime
    x_count: int
    our_count: int | None
    """None when we have no bucket for that hour."""


def compare_counts(engine: Engine, client: XClient, username: str) -> list[HourCheck]:
    """X's and our counts for every whole hour of the last 7 days (X's clock)."""
    with session_scope(engine) as session:
        account = get_account(session, username)
        account_id, name = account.id, account.username
    client.user_by_username(name)
    end = floor_hour(client.server_now or utcnow())
    start = end - 7 * DAY + HOUR
    counts = client.counts_recent(f"from:{name}", start, end)
    with session_scope(engine) as session:
        ours = hourly_counts(session, account_id, start=start, end=end)
    by_hour = {
        ts.to_pydatetime(): int(v) for ts, v in zip(ours.index, ours.to_numpy(), strict=True)
    }
    return [
        HourCheck(bucket.start, bucket.tweet_count, by_hour.get(bucket.start))
        for bucket in counts.data
        if bucket.start >= start and bucket.end - bucket.start == HOUR
    ]
