"""Scoring posts as ingestion delivers them, into `sentiment_predictions`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy.engine import Engine

from musktracker.db.dialect import insert_ignoring_conflicts
from musktracker.db.models import SentimentPrediction
from musktracker.db.session import session_scope
from musktracker.sentiment.drift import word_count
from musktracker.sentiment.inference import Prediction, Predictor
from musktracker.utc import ensure_utc, utcnow

log = structlog.get_logger(__name__)


class ArrivingPost(Protocol):
    """What the consumer reads from a post: ids, time and (in flight) its text."""

    @property
    def tweet_id(self) -> int | str: ...

    @property
    def account_id(self) -> int: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def text(self) -> str | None: ...


class SentimentConsumer:
    """A post consumer: `on_post(post)` scores a post with the champion and stores it.

    Implements the ingestion post-consumer interface (a `on_post(post)` method), to be
    registered with the ingestion pipeline. Posts without text (archive imports carry
    none) are skipped. The text itself is stored only when STORE_POST_TEXT is on; the
    word count is always kept so input drift can be measured. Storing is idempotent per
    post and model version.
    """

    def __init__(self, engine: Engine, predictor: Predictor, store_text: bool = False) -> None:
        self.engine = engine
        self.predictor = predictor
        self.store_text = store_text

    def on_post(self, post: ArrivingPost) -> Prediction | None:
        """Score one post; returns its prediction, or None when it has no text."""
        scored = self.on_posts([post])
        return scored[0]

    def on_posts(self, posts: Sequence[ArrivingPost]) -> list[Prediction | None]:
        """Score a batch of posts in one model call and one insert."""
        with_text = [p for p in posts if p.text and p.text.strip()]
        predictions = self.predictor.predict([p.text or "" for p in with_text])
        by_post = {id(p): pred for p, pred in zip(with_text, predictions, strict=True)}
        now = utcnow()
        rows = [
            {
                "account_id": post.account_id,
                "tweet_id": int(post.tweet_id),
                "posted_at": ensure_utc(post.created_at),
                "label": pred.label,
                "p_negative": pred.probabilities["negative"],
                "p_neutral": pred.probabilities["neutral"],
                "p_positive": pred.probabilities["positive"],
                "confidence": pred.confidence,
                "n_words": word_count(post.text or ""),
                "model_version": pred.model_version,
                "text": post.text if self.store_text else None,
                "created_at": now,
            }
            for post, pred in zip(with_text, predictions, strict=True)
        ]
        with session_scope(self.engine) as session:
            insert_ignoring_conflicts(
                session, SentimentPrediction, rows, ["account_id", "tweet_id", "model_version"]
            )
        log.debug("sentiment.posts_scored", posts=len(posts), scored=len(rows))
        return [by_post.get(id(p)) for p in posts]
