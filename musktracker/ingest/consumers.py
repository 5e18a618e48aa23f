"""Who hears about new posts: the interface through which sentiment and signals receive
posts from the stream, with their text, in memory, whatever STORE_POST_TEXT says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from musktracker.db.models import PostKind
from musktracker.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class IngestedPost:
    """A post just stored (committed) by ingestion."""

    account_id: int
    username: str
    tweet_id: str
    created_at: datetime
    kind: PostKind
    text: str


class PostConsumer(Protocol):
    """Receives each post once it is safely stored. Must not block for long; whatever it
    returns is ignored."""

    def on_post(self, post: IngestedPost) -> object: ...


class ConsumerRegistry:
    """The consumers posts are handed to, in registration order.

    A consumer that raises is logged and skipped for that post: the post is already stored,
    and one broken consumer must not starve the others or stop ingestion.
    """

    def __init__(self) -> None:
        self._consumers: list[PostConsumer] = []

    def register(self, consumer: PostConsumer) -> None:
        self._consumers.append(consumer)

    def unregister(self, consumer: PostConsumer) -> None:
        self._consumers.remove(consumer)

    def __len__(self) -> int:
        return len(self._consumers)

    def publish(self, post: IngestedPost) -> None:
        for consumer in self._consumers:
            try:
                consumer.on_post(post)
            except Exception:
                log.exception(
                    "ingest.consumer_failed", consumer=type(consumer).__name__, tweet=post.tweet_id
                )


consumers = ConsumerRegistry()
"""The process-wide registry; sentiment and signals register here at start-up."""
