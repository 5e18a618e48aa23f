"""Labelled samples collected after training (corrections, annotations) for retraining."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from musktracker.db.dialect import insert_ignoring_conflicts
from musktracker.db.models import LabelledSample
from musktracker.db.session import session_scope
from musktracker.sentiment.data import LabelledTexts, SentimentDataError
from musktracker.utc import utcnow


@dataclass(frozen=True)
class AddedSamples:
    read: int
    added: int

    @property
    def duplicates(self) -> int:
        return self.read - self.added


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_samples(engine: Engine, samples: LabelledTexts, source: str) -> AddedSamples:
    """Store samples; a text already stored (by SHA-256) is skipped, so re-adding is safe."""
    if not source.strip():
        raise SentimentDataError("source: must not be empty")
    now = utcnow()
    rows = [
        {
            "text_sha256": text_hash(text),
            "text": text,
            "label": label,
            "source": source[:256],
            "created_at": now,
        }
        for text, label in zip(samples.texts, samples.labels, strict=True)
    ]
    unique = list({row["text_sha256"]: row for row in rows}.values())
    # Counted, not taken from rowcount: PostgreSQL's batched executemany reports 0 rows.
    count = select(func.count()).select_from(LabelledSample)
    with session_scope(engine) as session:
        before = int(session.scalar(count) or 0)
        insert_ignoring_conflicts(session, LabelledSample, unique, ["text_sha256"])
        added = int(session.scalar(count) or 0) - before
    return AddedSamples(len(rows), added)


def count_unused(engine: Engine) -> int:
    """Samples not yet used to train a model."""
    with session_scope(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LabelledSample)
                .where(LabelledSample.used_in_training.is_(False))
            )
            or 0
        )


def all_samples(engine: Engine) -> tuple[LabelledTexts, list[int]]:
    """Every stored sample (used or not) and their ids, oldest first."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(LabelledSample.id, LabelledSample.text, LabelledSample.label).order_by(
                LabelledSample.id
            )
        ).all()
    return LabelledTexts([r.text for r in rows], [r.label for r in rows]), [r.id for r in rows]


def mark_used(engine: Engine, ids: list[int]) -> None:
    """Flag samples as used in training (after a challenger has been trained on them)."""
    if not ids:
        return
    with session_scope(engine) as session:
        session.execute(
            update(LabelledSample).where(LabelledSample.id.in_(ids)).values(used_in_training=True)
        )
