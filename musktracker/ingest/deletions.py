"""Finding posts X no longer has: look stored ids up (100 per call) and soft-delete the
ones X reports as not found. Rows are kept, flagged `is_deleted`, and leave the counts.

Only an explicit "not found" error deletes: an id that is neither returned nor reported
(a partial answer) is left alone, so a flaky response can never delete a post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.accounts import get_account
from musktracker.db.models import RawTweet
from musktracker.db.session import session_scope
from musktracker.features.refresh import refresh_after_posts
from musktracker.ingest.client import LOOKUP_BATCH, XClient
from musktracker.ingest.store import mark_deleted
from musktracker.utc import utcnow

NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


@dataclass(frozen=True)
class DeletionReport:
    username: str
    checked: int
    deleted: list[str]


def verify_deletions(engine: Engine, client: XClient, username: str, days: int) -> DeletionReport:
    """Check the account's stored posts of the last `days` days (X's clock) against X."""
    with session_scope(engine) as session:
        account = get_account(session, username)
        account_id, name = account.id, account.username
    client.user_by_username(name)  # checks the token and reads X's clock
    since = (client.server_now or utcnow()) - timedelta(days=days)
    with session_scope(engine) as session:
        ids = list(
            session.scalars(
                select(RawTweet.tweet_id)
                .where(
                    RawTweet.account_id == account_id,
                    RawTweet.is_deleted.is_(False),
                    RawTweet.created_at >= since,
                )
                .order_by(RawTweet.created_at)
            )
        )
    deleted: list[str] = []
    for start in range(0, len(ids), LOOKUP_BATCH):
        batch = ids[start : start + LOOKUP_BATCH]
        answer = client.lookup_tweets(batch)
        wanted = set(batch)
        gone = [
            e.resource_id or e.value or ""
            for e in answer.errors
            if e.type == NOT_FOUND and (e.resource_id or e.value) in wanted
        ]
        with session_scope(engine) as session:
            result = mark_deleted(session, account_id, gone)
            if result.span is not None:
                refresh_after_posts(session, account_id, result.span)
        deleted.extend(gone)
    return DeletionReport(name, len(ids), deleted)
