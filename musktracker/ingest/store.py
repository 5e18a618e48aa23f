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
    rows = [_row(account_id, r, source, now, r.text if store_text else None) for r in records]
    inserted = insert_ignoring_conflicts(session, RawTweet, rows, key=["account_id", "tweet_id"])
    times = [r.created_at for r in records]
    return StoreResult(inserted, (min(times), max(times)) if inserted else None)


def _row(
    account_id: int, record: PostRecord, source: str, now: datetime, text: str | None
) -> dict[str, Any]:
    """A raw_tweets row for `record` as stored now: not deleted, with `text` (or none)."""
    return {
        "account_id": account_id,
        "tweet_id": record.tweet_id,
        "created_at": record.created_at,
        "kind": record.kind.value,
        "source": source,
        "ingest_time": now,
        "is_deleted": False,
        "text": text,
    }


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
    # Insert first: a page of new posts (the usual case) costs one statement. Rows it just
    # wrote equal their records, so only rows stored before can show up as changed below.
    inserted = store_posts(session, account_id, records, source, store_text).inserted
    if inserted == len(records):
        return StoreResult(inserted, _span([r.created_at for r in records]))
    by_id = {r.tweet_id: r for r in records}
    stored = session.execute(
        select(RawTweet.tweet_id, RawTweet.kind, RawTweet.text, RawTweet.is_deleted).where(
            RawTweet.account_id == account_id, RawTweet.tweet_id.in_(list(by_id))
        )
    ).all()
    changed = [
        (by_id[row.tweet_id], row.text)
        for row in stored
        if row.kind != by_id[row.tweet_id].kind.value
        or row.is_deleted
        or (store_text and by_id[row.tweet_id].text not in (None, row.text))
    ]
    if changed:
        now = utcnow()
        rows = [
            _row(account_id, r, source, now, r.text if store_text else old_text)
            for r, old_text in changed
        ]
        upsert(session, RawTweet, rows, ["account_id", "tweet_id"], ["kind", "is_deleted", "text"])
    # Counts may have changed anywhere in the batch if anything was inserted.
    touched = records if inserted else [r for r, _ in changed]
    return StoreResult(inserted, _span([r.created_at for r in touched]))


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
