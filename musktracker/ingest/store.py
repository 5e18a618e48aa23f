"""Writing posts: one idempotent bulk insert shared by archive import and the X API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from musktracker.db.dialect import insert_ignoring_conflicts
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
