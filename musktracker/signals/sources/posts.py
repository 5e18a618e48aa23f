"""Posts of tracked accounts: polled from `raw_tweets`, or pushed by the stream.

`PostSource` reads rows newer than its checkpoint (the last `raw_tweets.id` it stored).
Post text is only there when STORE_POST_TEXT is on; otherwise posts still count as events
but carry no text. `SignalPostConsumer.on_post` is the stream's consumer hook: it runs the
post through the pipeline at once (text in flight, never stored unless opted in); the same
post read later from `raw_tweets` is then dropped by dedup on its source id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.models import Account, RawTweet
from musktracker.signals.event import RawEvent
from musktracker.signals.pipeline import BatchResult, SignalPipeline
from musktracker.signals.sources.base import read_checkpoint, write_checkpoint

SOURCE = "x"


def post_url(username: str | None, tweet_id: str) -> str:
    return f"https://x.com/{username or 'i'}/status/{tweet_id}"


def post_event(
    tweet_id: str, created_at: datetime, username: str | None, text: str | None
) -> RawEvent:
    """One post in the pipeline's event shape."""
    return RawEvent(
        source=SOURCE,
        source_id=tweet_id,
        type="post",
        created_at=created_at,
        account=username,
        text=text or "",
        url=post_url(username, tweet_id),
    )


class PostSource:
    name = "posts"

    def __init__(self, batch_size: int = 1000) -> None:
        self.batch_size = batch_size
        self.more = False
        self._position: int | None = None

    def fetch(self, session: Session) -> list[RawEvent]:
        after = int(read_checkpoint(session, self.name) or 0)
        rows = session.execute(
            select(
                RawTweet.id, RawTweet.tweet_id, RawTweet.created_at, Account.username, RawTweet.text
            )
            .join(Account, Account.id == RawTweet.account_id)
            .where(RawTweet.id > after, RawTweet.is_deleted.is_(False))
            .order_by(RawTweet.id)
            .limit(self.batch_size)
        ).all()
        self._position = rows[-1].id if rows else None
        self.more = len(rows) == self.batch_size
        return [post_event(r.tweet_id, r.created_at, r.username, r.text) for r in rows]

    def commit(self, session: Session) -> None:
        if self._position is not None:
            write_checkpoint(session, self.name, str(self._position))


class _Post(Protocol):
    """What the stream hands over (ingest's PostRecord fits); read-only, so any shape works."""

    @property
    def tweet_id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def text(self) -> str | None: ...


class SignalPostConsumer:
    """The stream's consumer: `on_post(post)` sends one post through the pipeline now."""

    def __init__(self, pipeline: SignalPipeline, account: str | None = None) -> None:
        self.pipeline = pipeline
        self.account = account

    def on_post(self, post: _Post) -> BatchResult:
        username = getattr(post, "username", None) or getattr(post, "account", None)
        event = post_event(post.tweet_id, post.created_at, username or self.account, post.text)
        return self.pipeline.process([event])
