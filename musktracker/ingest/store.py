"""Writing posts: idempotent bulk inserts shared by archive import and the X API, and soft
deletion (rows are kept, flagged, and leave the counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from musktracker.db.dialect import insert_ignoring_conflicts, upsert
from musktracker.db.models import RawTweet
from musktracker.ingest.archive import PostRecord
from musktracker.utc import utcnow


@dataclass(frozen=True)
class StoreResult:
    """How many posts were new, and the time span the batch covers (for bucket refresh)."""

    inserted: int
    span: tuple[datetime, datetime] | None


def store_posts(
    session: Session,
    account_id: int,
    records: Sequence[PostRecord],
    source: str,
    store_text: bool = False,
) -> StoreResult:
    """Insert posts for an account; posts already stored are left untouched."""
    if not records:
        return StoreResult(0, None)
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "account_id": account_id,
            "tweet_id": r.tweet_id,
            "created_at": r.created_at,
            "kind": r.kind.value,
            "source": source,
            "ingest_time": now,
            "is_deleted": False,
            "text": r.text if store_text else None,
        }
        for r in records
    ]
    inserted = insert_ignoring_conflicts(session, RawTweet, rows, key=["account_id", "tweet_id"])
    times = [r.created_at for r in records]
    return StoreResult(inserted, (min(times), max(times)) if inserted else None)


def _span(times: Sequence[datetime]) -> tuple[datetime, datetime] | None:
    return (min(times), max(times)) if times else None


def store_api_posts(
    session: Session,
    account_id: int,
    records: Sequence[PostRecord],
    source: str,
    store_text: bool = False,
) -> StoreResult:
    """Insert new posts; bring stored ones up to date with what X says now.

    X is the authority on a post's kind (an archive may only know "unknown"), and a post X
    returns is not deleted. Rows already equal are not touched, so a repeat is a no-op.
    The span covers every post whose counts may have changed.
    """
    if not records:
        return StoreResult(0, None)
    by_id = {r.tweet_id: r for r in records}
    stored = {
        row.tweet_id: row
        for row in session.execute(
            select(RawTweet.tweet_id, RawTweet.kind, RawTweet.text, RawTweet.is_deleted).where(
                RawTweet.account_id == account_id, RawTweet.tweet_id.in_(list(by_id))
            )
        )
    }
    fresh = [r for r in records if r.tweet_id not in stored]
    changed = [
        r
        for r in records
        if (row := stored.get(r.tweet_id)) is not None
        and (
            row.kind != r.kind.value
            or row.is_deleted
            or (store_text and r.text is not None and row.text != r.text)
        )
    ]
    inserted = store_posts(session, account_id, fresh, source, store_text).inserted
    if changed:
        rows = [
            {
                "account_id": account_id,
                "tweet_id": r.tweet_id,
                "created_at": r.created_at,
                "kind": r.kind.value,
                "source": source,
                "ingest_time": utcnow(),
                "is_deleted": False,
                "text": r.text if store_text else stored[r.tweet_id].text,
            }
            for r in changed
        ]
        upsert(session, RawTweet, rows, ["account_id", "tweet_id"], ["kind", "is_deleted", "text"])
    return StoreResult(inserted, _span([r.created_at for r in fresh + changed]))


def mark_deleted(session: Session, account_id: int, tweet_ids: Sequence[str]) -> StoreResult:
    """Soft-delete posts (the rows stay); `inserted` is the number newly flagged."""
    if not tweet_ids:
        return StoreResult(0, None)
    times = list(
        session.scalars(
            update(RawTweet)
            .where(
                RawTweet.account_id == account_id,
                RawTweet.tweet_id.in_(list(tweet_ids)),
                RawTweet.is_deleted.is_(False),
            )
            .values(is_deleted=True)
            .returning(RawTweet.created_at)
            .execution_options(synchronize_session=False)
        )
    )
    return StoreResult(len(times), _span(times))
